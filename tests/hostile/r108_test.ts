// Review 108, lifecycle with a hot standby, under every layer: what races_test.ts (a standby under
// the OS layer only, killed only once ready) and r80_lifecycle_test.ts (the Deno layer, one plugin)
// leave out. A seeded fuzz of several hot-standby plugins in one host, where any process of theirs
// may be SIGKILLed at any moment (a standby in its handshake, a start's, one on its close ladder),
// signals may be aborted before the start or from inside the listener, the listener may throw or
// stop, restart and abort re-entrantly, and the host is closed while they start. After each: every
// promise settled, every plugin stopped, no process of theirs in /proc, no event after the close.
// PLUGBOX_R108_SEED replays a failing run; PLUGBOX_R108_RACES runs more.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ManagedOptions, type PluginEvent, PluginHost, previewStart } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { fixture, LAYERS, testDeadline, until, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "./_hostile.ts";

const RACES = Number(Deno.env.get("PLUGBOX_R108_RACES") ?? 2);

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** bare_echo.ts in a folder of its own: its snapshot's path marks its processes. */
async function markedPlugin(isolation: ManagedOptions["isolation"]) {
  const source = await Deno.readTextFile(fixture("bare_echo.ts"));
  const folder = await pluginFolder({
    "main.ts": `${source}\n// r108 marker ${crypto.randomUUID()}\n`,
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation })).snapshot.dir;
  return { folder, main, marker };
}

type Op =
  | "stop"
  | "restart"
  | "abort"
  | "killNow"
  | "crash"
  | "kill-standby"
  | "kill-any"
  | "start"
  | "call";
const OPS: Op[] = [
  "stop",
  "restart",
  "abort",
  "killNow",
  "crash",
  "kill-standby",
  "kill-any",
  "kill-any",
  "start",
  "call",
];
const NAMES = ["a", "b", "c"];

const kill = (pid: number | undefined) => {
  try {
    if (pid) Deno.kill(pid, "SIGKILL");
  } catch {
    // gone meanwhile
  }
};

async function standbyInterleaving(
  random: () => number,
  isolation: ManagedOptions["isolation"],
  main: string,
  marker: string,
) {
  const log: string[] = [];
  const promises: Promise<unknown>[] = [];
  const track = (promise: Promise<unknown>) => promises.push(promise.then(() => "ok", (e) => e));
  const controllers = new Map<string, AbortController>();
  const options = (name: string): ManagedOptions => {
    const controller = new AbortController();
    controllers.set(name, controller);
    // Now and then a signal aborted before the start.
    if (random() < 0.1) controller.abort();
    return {
      contracts: [Bare],
      isolation,
      signal: controller.signal,
      stopGraceMs: 100,
      stopTermMs: 100,
      backoffInitialMs: Math.floor(random() * 20),
      healthIntervalMs: 0,
      maxRestarts: 4,
      hotStandby: true,
      startTimeout: random() < 0.2 ? 150 + Math.floor(random() * 300) : 10_000,
    };
  };
  const name = () => NAMES[Math.floor(random() * NAMES.length)];
  const act = (op: Op, where: string, on: string) => {
    log.push(`${where}:${op}(${on})`);
    const managed = (() => {
      try {
        return host.get(on);
      } catch {
        return undefined;
      }
    })();
    switch (op) {
      case "stop":
        return managed && track(managed.stop());
      case "restart":
        return managed && track(managed.restart());
      case "abort":
        return controllers.get(on)?.abort();
      case "killNow":
        return managed?.killNow();
      case "crash":
        return kill(managed?.current?.pid);
      case "kill-standby":
        return kill(managed?.standbyPid);
      case "kill-any": {
        // Whatever process of these plugins is there: a standby or start in its handshake too.
        const pids = processesWith(marker);
        return kill(pids[Math.floor(random() * pids.length)]);
      }
      case "call":
        return managed && track(managed.api(Bare, { timeout: 2000 }).echo(1));
      case "start":
        if (managed && managed.state !== "stopped" && managed.state !== "failed") return;
        return track(host.start(on, main, options(on)));
    }
  };
  let acts = 0;
  let closed = false;
  const late: PluginEvent[] = [];
  const host: PluginHost = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      if (closed) late.push(event);
      const roll = random();
      if (roll < 0.1) throw new Error("a listener's bug");
      if (acts >= 6 || roll > 0.35) return;
      acts++;
      act(OPS[Math.floor(random() * OPS.length)], `on-${event.type}`, event.plugin);
    },
  });
  for (const n of NAMES) act("start", "outside", n);
  const steps = 2 + Math.floor(random() * 6);
  for (let i = 0; i < steps; i++) {
    const roll = random();
    await new Promise((resolve) => setTimeout(resolve, roll < 0.3 ? 0 : roll * 300));
    act(OPS[Math.floor(random() * OPS.length)], "outside", name());
  }
  log.push("dispose");
  const disposed = host[Symbol.asyncDispose]();
  track(disposed);
  await within(Promise.all(promises), 60_000, `every promise of [${log.join(", ")}]`);
  closed = true;
  for (const { name: n, state } of host.list()) {
    assert.equal(state, "stopped", `"${n}" after [${log.join(", ")}]`);
  }
  assert.deepEqual(processesWith(marker), [], `processes left after [${log.join(", ")}]`);
  assert.deepEqual(late, [], `events after the close, after [${log.join(", ")}]`);
}

for (const isolation of LAYERS) {
  Deno.test(`random interleavings of three hot-standby plugins in one host, killed anywhere, aborted and closed while starting [${isolation}] leave no process and no unsettled promise`, async () => {
    testDeadline(240_000);
    const { folder, main, marker } = await markedPlugin(isolation);
    await using _folder = folder;
    const seed = Number(Deno.env.get("PLUGBOX_R108_SEED") ?? Date.now() % 1_000_000);
    const random = rng(seed);
    for (let i = 0; i < RACES; i++) {
      try {
        await standbyInterleaving(random, isolation, main, marker);
      } catch (error) {
        throw new Error(`Failed at interleaving ${i} (PLUGBOX_R108_SEED=${seed}): ${error}`, {
          cause: error,
        });
      }
    }
  });
}

/** Whether process `pid` is reaped (this host's Deno knows it exited). */
function reaped(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch {
    return true;
  }
}

Deno.test("a crash while the idle standby's death is known but its exit not yet reported restarts as without a standby: the dead standby is not promoted, and the plugin does not fail", async () => {
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
  const managed = await host.start("p", new URL("./plugins/r108_dies_loud.ts", import.meta.url), {
    contracts: [Bare],
    isolation: "deno",
    permissions: { run: ["/usr/bin/sleep"] },
    unsafe: { run: true },
    hotStandby: true,
    healthIntervalMs: 0,
    backoffInitialMs: 0,
    maxRestarts: 1, // one crash may be restarted: the current's, not the standby's too
  });
  await until(() => managed.standbyPid !== undefined, 20_000, "a ready standby");
  const standby = managed.standbyPid!;
  // The standby dies; a child of its holds its stderr: the drain's 500 ms pass before its exit is told.
  Deno.kill(standby, "SIGUSR1");
  await until(() => reaped(standby), 10_000, "the standby's death");
  Deno.kill(managed.current!.pid, "SIGKILL");
  const settled = () =>
    managed.state === "failed" ||
    events.some((e) => e.type === "start" && e.restarts === 1 && e.pid !== standby);
  await until(settled, 20_000, "the restart (or the failure)");
  const promoted = events.find((e) => e.type === "start" && e.pid === standby);
  assert.equal(promoted, undefined, "a dead standby was promoted");
  assert.equal(managed.failure, undefined, "the standby's death made the plugin fail");
  assert.equal(managed.state, "running");
  // The standby's child is its cgroups' to kill (as root); without them, the test's own, by pid.
  for (const pid of processesWith("30.108")) Deno.kill(pid, "SIGKILL");
});
