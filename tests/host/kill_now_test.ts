// killNow() SIGKILLs every process a managed plugin has at that moment, whatever its part: one on
// its close ladder, a standby taken and not yet adopted, a start in its handshake. It runs where
// nothing can be awaited (`unload`, right before `Deno.exit`), so each test looks without
// yielding to the event loop: what kills the processes must be sent by killNow() itself, not by
// work it left for a later turn. The plugins here ignore SIGTERM and their input's end, and their
// stop ladder is minutes long: only a SIGKILL ends them in time.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ManagedOptions, type PluginEvent, PluginHost, previewStart } from "../../mod.ts";
import { send } from "../../runner/sandbox/proc_tree.ts";
import { descendantsOf } from "../../runner/sandbox/kill_tree.ts";
import { Bare } from "../fixtures/contracts.ts";
import { Probe } from "../hostile/plugins/probe.ts";
import { alive, fixture, LAYERS, until, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "../hostile/_hostile.ts";

type Isolation = ManagedOptions["isolation"];

/** Waits until none of `pids` runs, without yielding to the event loop, within `ms`. */
function goneAtOnce(pids: number[], ms: number, what: string): void {
  const end = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > end) {
      throw new Error(`Deadline of ${ms} ms passed waiting for ${what}: ${pids.filter(alive)}`);
    }
  }
}

/**
 * bare_echo.ts, ignoring SIGTERM and its input's end. With `gate`, a folder, only the first
 * process serves at once: each later one says "waiting for the go" on stderr and answers its
 * handshake only once the file `go` is in the folder.
 */
async function refusingPlugin(isolation: Isolation, gate?: string) {
  const source = (await Deno.readTextFile(fixture("bare_echo.ts")))
    .replace(/^Deno\.exit\(0\);$/m, "setInterval(() => {}, 60_000);");
  const wait = gate
    ? `try { Deno.openSync(${
      JSON.stringify(join(gate, "first"))
    }, { createNew: true, write: true }).close(); }
catch {
  console.error("waiting for the go");
  for (;;) {
    try { Deno.statSync(${JSON.stringify(join(gate, "go"))}); break; }
    catch { await new Promise((resolve) => setTimeout(resolve, 10)); }
  }
}\n`
    : "";
  const wants = [{ value: "*", reason: "claims being the first process, waits for the go" }];
  const folder = await pluginFolder({
    "main.ts": `Deno.addSignalListener("SIGTERM", () => {});\n${wait}${source}\n` +
      `// kill-now marker ${crypto.randomUUID()}\n`,
    ...gate && {
      "plugbox.json": JSON.stringify({
        description: "Serves at once only as the first process of its plugin.",
        permissions: { read: wants, write: wants },
      }),
    },
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation })).snapshot.dir;
  return { folder, main, marker };
}

/** A host whose events and log lines are kept, and can be awaited. */
function watchedHost() {
  const events: PluginEvent[] = [];
  const lines: string[] = [];
  const host = new PluginHost({
    handleSignals: false,
    onEvent: (e) => void events.push(e),
    onLog: (entry) => void lines.push(entry.message),
  });
  return { host, events, lines };
}

const options = (isolation: Isolation, gate?: string): ManagedOptions => ({
  contracts: [Bare],
  isolation,
  healthIntervalMs: 0,
  startTimeout: 120_000,
  stopGraceMs: 120_000,
  stopTermMs: 120_000,
  ...gate && {
    permissions: { read: [gate], write: [gate] },
    unsafe: { writeAsRoot: true }, // the claim is a plain file in a folder of the test's own
  },
});

/** Runs `body`; whatever happens, no process of the plugin outlives it, nor the host. */
async function cleanly(host: PluginHost, marker: string, body: () => Promise<void>) {
  try {
    await body();
    await within(host[Symbol.asyncDispose](), 20_000, "the close after killNow");
    assert.deepEqual(processesWith(marker), [], "no process of the plugin left");
  } finally {
    // A failure must not leave the plugin sitting out its ladder for the rest of the run.
    for (const pid of processesWith(marker)) send(pid, "SIGKILL");
    await within(host[Symbol.asyncDispose](), 20_000, "the close after the cleanup");
  }
}

for (const isolation of LAYERS) {
  Deno.test(`killNow SIGKILLs a process already on its close ladder: a restart's, a stop's [${isolation}]`, async () => {
    const { folder, main, marker } = await refusingPlugin(isolation);
    await using _folder = folder;
    for (const close of ["restart", "stop"] as const) {
      const { host } = watchedHost();
      await cleanly(host, marker, async () => {
        const managed = await host.start("p", main, options(isolation));
        const pids = processesWith(marker);
        assert.ok(pids.includes(managed.current!.pid));
        // Both hand the current process to its close at once: it is on its ladder from here.
        const closing: Promise<unknown> = close === "restart"
          ? managed.restart().catch(() => {})
          : managed.stop();
        assert.equal(managed.state, close === "restart" ? "restarting" : "stopping");
        host.killNow();
        goneAtOnce(pids, 5_000, `${close}: the process on its close ladder`);
        await within(closing, 20_000, `the ${close}`);
        assert.equal(managed.state, "stopped");
      });
    }
  });
}

/** A folder for the gate, removed after `body`. */
async function withGate(body: (gate: string) => Promise<void>) {
  const gate = await Deno.makeTempDir({ prefix: "plugbox-kill-now-" });
  try {
    await body(gate);
  } finally {
    await Deno.remove(gate, { recursive: true });
  }
}

const waiting = (lines: string[]) => () => lines.includes("waiting for the go");

for (const isolation of LAYERS) {
  for (const part of ["standby", "restart"] as const) {
    Deno.test(`killNow SIGKILLs a ${part} still in its handshake [${isolation}]`, async () => {
      await withGate(async (gate) => {
        const { folder, main, marker } = await refusingPlugin(isolation, gate);
        await using _folder = folder;
        const { host, lines } = watchedHost();
        await cleanly(host, marker, async () => {
          const managed = await host.start("p", main, {
            ...options(isolation, gate),
            hotStandby: part === "standby",
            backoffInitialMs: 10,
          });
          // The standby starts once the plugin runs; a restart, once the plugin crashed.
          if (part === "restart") Deno.kill(managed.current!.pid, "SIGKILL");
          await until(waiting(lines), 20_000, `the ${part}'s handshake`);
          const pids = processesWith(marker);
          assert.ok(pids.length >= (part === "standby" ? 2 : 1), `${pids.length} processes`);
          host.killNow();
          goneAtOnce(pids, 5_000, `every process, the ${part} in its handshake too`);
        });
      });
    });
  }

  Deno.test(`killNow SIGKILLs a standby a restart took and has not yet adopted [${isolation}]`, async () => {
    await withGate(async (gate) => {
      const { folder, main, marker } = await refusingPlugin(isolation, gate);
      await using _folder = folder;
      const { host, events, lines } = watchedHost();
      await cleanly(host, marker, async () => {
        const managed = await host.start("p", main, {
          ...options(isolation, gate),
          hotStandby: true,
          backoffInitialMs: 120_000,
        });
        // A crash while the standby waits in its handshake: no standby to promote, so a backoff.
        await until(waiting(lines), 20_000, "the standby's handshake");
        Deno.kill(managed.current!.pid, "SIGKILL");
        await until(() => events.some((e) => e.type === "restart"), 20_000, "the crash");
        assert.ok(events.some((e) => e.type === "restart" && !e.standby), "not a promotion");
        // The standby gets ready during the backoff; a restart then takes it.
        await Deno.writeTextFile(join(gate, "go"), "");
        const ready = (e: PluginEvent) => e.type === "standby" && e.change === "ready";
        await until(() => events.some(ready), 20_000, "the standby to be ready");
        const pids = processesWith(marker);
        assert.ok(pids.includes(managed.standbyPid!));
        const restarting = managed.restart().catch(() => {});
        assert.equal(managed.standbyPid, undefined, "taken by the restart");
        assert.ok(!events.some((e) => e.type === "start" && e.standby), "and not yet adopted");
        host.killNow();
        goneAtOnce(pids, 5_000, "the standby taken and not yet adopted");
        await within(restarting, 20_000, "the restart");
        assert.equal(managed.state, "stopped");
      });
    });
  });
}

Deno.test("killNow SIGKILLs the standby a failed plugin closes, after a start of its name replaced it", async () => {
  const { folder, main, marker } = await refusingPlugin("deno");
  await using _folder = folder;
  const { host, events } = watchedHost();
  await cleanly(host, marker, async () => {
    const settings = { ...options("deno"), hotStandby: true, maxRestarts: 0 };
    const managed = await host.start("p", main, settings);
    const ready = (e: PluginEvent) => e.type === "standby" && e.change === "ready";
    await until(() => events.some(ready), 20_000, "the standby to be ready");
    // A crash past the budget fails the plugin, and its failure closes the standby: a ladder.
    Deno.kill(managed.current!.pid, "SIGKILL");
    await until(() => managed.state === "failed", 20_000, "the plugin to fail");
    await host.start("p", main, settings);
    const pids = processesWith(marker);
    assert.ok(pids.length >= 2, "the old standby, on its ladder, and the new plugin");
    host.killNow();
    goneAtOnce(pids, 5_000, "every process, the replaced plugin's standby too");
  });
});

// A child that left the plugin's process tree (an orphan: its parent, detached, exited) is in
// neither its group nor its tree, only in its cgroups (made here, as root). A stop's close of the
// cgroups kills it on a later turn; killNow(), with no later turn, kills what they hold itself.
// (Under bubblewrap the PID namespace takes it down, with the plugin.)
for (const isolation of ["deno", "landlock"] as const) {
  Deno.test(`killNow SIGKILLs a grandchild that left the plugin's process tree, from its cgroups [${isolation}]`, async () => {
    const marker = `kill-now-orphan-${crypto.randomUUID()}`;
    const { host } = watchedHost();
    await cleanly(host, marker, async () => {
      const managed = await host.start(
        "p",
        new URL("../hostile/plugins/review_detached.ts", import.meta.url),
        {
          contracts: [Probe],
          isolation,
          healthIntervalMs: 0,
          permissions: { run: [Deno.execPath()] },
          unsafe: { run: true },
        },
      );
      assert.ok(managed.current!.plan.cpu.cgroup, "the plugin has cgroups (a root host here)");
      assert.match(await host.api("p", Probe).attempt(`orphan ${marker}`), /^started \d+$/);
      await until(() => processesWith(marker).length > 0, 10_000, "the grandchild to start");
      const reversed = [...marker].reverse().join("");
      await until(() => processesWith(reversed).length === 0, 10_000, "its parent to exit");
      const orphans = processesWith(marker);
      const inTree = () =>
        descendantsOf(managed.current!.pid, false).some(({ pid }) => orphans.includes(pid));
      await until(() => !inTree(), 10_000, "the grandchild to leave the plugin's process tree");
      host.killNow();
      goneAtOnce(orphans, 5_000, "the orphaned grandchild");
    });
  });
}
