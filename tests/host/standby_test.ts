// The hot standby (`hotStandby: true`): promoted on a crash, replaced after a
// promotion, closed by every way a plugin ends, replaced a bounded number of
// times when it dies idle or cannot start, never the cause of a failure.
// Real processes; every wait is on an event or a state, with a deadline.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ManagedOptions, type PluginEvent, PluginHost, previewStart } from "../../mod.ts";
import { Standby, STANDBY_LOSSES } from "../../runner/host/standby.ts";
import { startPlugin } from "../../runner/host/mod.ts";
import { send } from "../../runner/sandbox/proc_tree.ts";
import { Bare } from "../fixtures/contracts.ts";
import { alive, fixture, LAYERS, rejected, until, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "../hostile/_hostile.ts";

type Change<C extends string> = Extract<PluginEvent, { type: "standby" }> & { change: C };

/** A host whose events are kept in order and can be awaited from any index. */
function watchedHost() {
  const events: PluginEvent[] = [];
  const host = new PluginHost({ handleSignals: false, onEvent: (e) => void events.push(e) });
  /** The first event from `from` on that `match`es, within a deadline. */
  const seen = async <E extends PluginEvent>(
    what: string,
    match: (e: PluginEvent) => e is E,
    from = 0,
  ): Promise<E> => {
    await until(() => events.slice(from).some(match), 20_000, what);
    return events.slice(from).find(match)!;
  };
  return { host, events, seen };
}

const ready = (e: PluginEvent): e is Change<"ready"> =>
  e.type === "standby" && e.change === "ready";
const lost = (e: PluginEvent): e is Change<"lost"> => e.type === "standby" && e.change === "lost";
const off = (e: PluginEvent): e is Change<"off"> => e.type === "standby" && e.change === "off";
const started = (e: PluginEvent): e is Extract<PluginEvent, { type: "start" }> =>
  e.type === "start";

/**
 * The cheap fixture in a folder of its own (`prefix` goes first; `edit` changes its source), and
 * its snapshot as a marker.
 */
async function markedPlugin(
  isolation: ManagedOptions["isolation"] = "deno",
  prefix = "",
  manifest?: object,
  edit: (source: string) => string = (source) => source,
) {
  const source = edit(await Deno.readTextFile(fixture("bare_echo.ts")));
  const folder = await pluginFolder({
    "main.ts": `${prefix}${source}\n// standby marker ${crypto.randomUUID()}\n`,
    ...manifest && { "plugbox.json": JSON.stringify(manifest) },
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation })).snapshot.dir;
  return { folder, main, marker };
}

const quick = (isolation: ManagedOptions["isolation"] = "deno"): ManagedOptions => ({
  contracts: [Bare],
  isolation,
  hotStandby: true,
  healthIntervalMs: 0,
  stopGraceMs: 200,
  stopTermMs: 200,
});

Deno.test("a crash promotes the standby: its pid is the new one, the next call succeeds, a new standby follows", async () => {
  const { folder, main } = await markedPlugin();
  await using _folder = folder;
  const { host, events, seen } = watchedHost();
  await using _ = host;
  const managed = await host.start("p", main, quick());
  const first = managed.current!.pid;
  const standby = (await seen("a standby", ready)).pid;
  assert.notEqual(standby, first);
  assert.equal(managed.standbyPid, standby);
  const mark = events.length;
  Deno.kill(first, "SIGKILL");
  const start = await seen("the promotion", started, mark);
  assert.deepEqual([start.pid, start.standby, start.restarts], [standby, true, 1]);
  assert.equal(managed.current!.pid, standby);
  assert.equal(await host.api("p", Bare).echo(5), 5);
  const restart = events.slice(mark).find((e) => e.type === "restart");
  assert.ok(restart?.type === "restart" && restart.standby && restart.delayMs === 0);
  assert.match(restart.reason, /SIGKILL/);
  // The next standby is started once the promoted process runs: a new process, not either of these.
  const next = (await seen("the next standby", ready, mark)).pid;
  assert.ok(![first, standby].includes(next), `${next}`);
  // And it is promoted in turn; the crashes count in the budget like any.
  const again = events.length;
  Deno.kill(standby, "SIGKILL");
  assert.equal((await seen("the second promotion", started, again)).pid, next);
  assert.equal(await host.api("p", Bare).echo(6), 6);
  assert.equal(managed.restarts, 2);
});

Deno.test("a manual restart promotes the ready standby after closing the current process", async () => {
  const { folder, main } = await markedPlugin();
  await using _folder = folder;
  const { host, events, seen } = watchedHost();
  await using _ = host;
  const managed = await host.start("p", main, quick());
  const standby = (await seen("a standby", ready)).pid;
  const mark = events.length;
  await managed.restart();
  assert.equal(managed.current!.pid, standby);
  assert.equal((await seen("the promotion", started, mark)).standby, true);
  assert.equal(await host.api("p", Bare).echo(1), 1);
});

for (const isolation of LAYERS) {
  Deno.test(`stop, abort, the host's close and killNow end the plugin and its standby [${isolation}]`, async () => {
    const { folder, main, marker } = await markedPlugin(isolation);
    await using _folder = folder;
    for (const end of ["stop", "abort", "dispose", "killNow"] as const) {
      const { host, seen } = watchedHost();
      const controller = new AbortController();
      const managed = await host.start("p", main, {
        ...quick(isolation),
        signal: controller.signal,
      });
      const pids = [managed.current!.pid, (await seen("a standby", ready)).pid];
      assert.ok(pids.every(alive), `${end}: both run`);
      if (end === "stop") await within(managed.stop(), 20_000, "the stop");
      if (end === "abort") controller.abort();
      if (end === "dispose") await within(host[Symbol.asyncDispose](), 20_000, "the close");
      if (end === "killNow") {
        // No await in between: both must die from the call itself (the crash then restarts it).
        host.killNow();
        await until(() => !pids.some(alive), 10_000, "killNow: both pids gone");
      }
      if (end === "stop" || end === "dispose") {
        // Checked at once: a stop that resolved while the standby lived on is the bug.
        assert.deepEqual(pids.filter(alive), [], `${end}: both pids gone`);
        assert.deepEqual(processesWith(marker), [], `${end}: no process of the plugin left`);
      }
      await within(host[Symbol.asyncDispose](), 20_000, "the close");
      await until(() => processesWith(marker).length === 0, 10_000, `${end}: no process left`);
      assert.deepEqual(pids.filter(alive), [], `${end}: both pids gone`);
      assert.equal(managed.state, "stopped");
    }
  });
}

/** bare_echo.ts that ignores SIGTERM and stays once its input closes: only a SIGKILL ends it. */
const refusingClose = (isolation: ManagedOptions["isolation"]) =>
  markedPlugin(
    isolation,
    'Deno.addSignalListener("SIGTERM", () => {});\n',
    undefined,
    (source) => source.replace(/^Deno\.exit\(0\);$/m, "setInterval(() => {}, 60_000);"),
  );

for (const isolation of LAYERS) {
  Deno.test(`killNow SIGKILLs a ready standby at once, not through the stop ladder [${isolation}]`, async () => {
    // killNow() is a stop, and a stop hands the standby to a close, whose ladder (stdin, SIGTERM,
    // SIGKILL) this plugin sits out for minutes; at unload that close never even runs.
    const { folder, main, marker } = await refusingClose(isolation);
    await using _folder = folder;
    const { host, seen } = watchedHost();
    const managed = await host.start("p", main, {
      ...quick(isolation),
      stopGraceMs: 120_000,
      stopTermMs: 120_000,
    });
    const pids = [managed.current!.pid, (await seen("a standby", ready)).pid];
    try {
      host.killNow();
      await until(() => !pids.some(alive), 10_000, "killNow: both pids gone");
      await within(host[Symbol.asyncDispose](), 20_000, "the close");
      assert.deepEqual(processesWith(marker), [], "no process of the plugin left");
      assert.equal(managed.state, "stopped");
    } finally {
      // A failure must not leave the plugin sitting out its ladder for the rest of the run.
      for (const pid of processesWith(marker)) send(pid, "SIGKILL");
      await within(host[Symbol.asyncDispose](), 20_000, "the close after the cleanup");
    }
  });
}

Deno.test("a crash past the budget fails the plugin and closes its ready standby", async () => {
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const { host, seen } = watchedHost();
  await using _ = host;
  const managed = await host.start("p", main, { ...quick(), maxRestarts: 0 });
  const standby = (await seen("a standby", ready)).pid;
  Deno.kill(managed.current!.pid, "SIGKILL");
  await seen("the plugin to fail", (e) => e.type === "failed");
  assert.equal(managed.state, "failed");
  await until(() => !alive(standby), 10_000, "the standby to be closed");
  await until(() => processesWith(marker).length === 0, 10_000, "no process left");
  assert.equal(managed.standbyPid, undefined);
});

Deno.test("a stop while the standby is still starting settles and leaves no process", async () => {
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  for (let i = 0; i < 5; i++) {
    const { host } = watchedHost();
    const managed = await host.start("p", main, quick());
    // The standby's start began when the start resolved; stop in the middle of it.
    await within(managed.stop(), 20_000, "the stop");
    assert.deepEqual(processesWith(marker), [], "no process of the plugin left");
    assert.equal(managed.standbyPid, undefined);
    await host[Symbol.asyncDispose]();
  }
});

Deno.test("a standby start that completes after a clear is closed, not held", async () => {
  // The launch ignores the abort, as one whose handshake lands with the abort would.
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const changes: string[] = [];
  const standby = new Standby({
    launch: () => startPlugin(main, { contracts: [Bare], isolation: "deno" }),
    windowMs: 180_000,
    report: (change) => changes.push(change.change),
  });
  for (let i = 0; i < 3; i++) {
    standby.fill();
    await within(standby.clear(), 20_000, "the clear");
    assert.equal(standby.pid, undefined);
    assert.deepEqual(processesWith(marker), [], "no standby process left after the clear");
  }
  assert.deepEqual(changes, [], "a cleared start is neither ready nor lost");
});

Deno.test(`a standby that dies idle is replaced, ${STANDBY_LOSSES} times within the window, then no more`, async () => {
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const { host, events, seen } = watchedHost();
  await using _ = host;
  const managed = await host.start("p", main, quick());
  const pids = new Set([managed.current!.pid]);
  let standby = (await seen("a standby", ready)).pid;
  for (let loss = 1; loss <= STANDBY_LOSSES; loss++) {
    const mark = events.length;
    Deno.kill(standby, "SIGKILL");
    assert.match((await seen(`loss ${loss}`, lost, mark)).detail, /SIGKILL while idle/);
    if (loss === STANDBY_LOSSES) break;
    pids.add(standby);
    standby = (await seen(`replacement ${loss}`, ready, mark)).pid;
    assert.ok(!pids.has(standby), "a new process");
  }
  const spell = events.findLast(off);
  assert.ok(spell, "the standby is off after the last loss");
  assert.match(spell.detail, new RegExp(`${STANDBY_LOSSES} standbys lost within 180000 ms`));
  // Nothing more is started for it: the plugin runs alone, and calls still work.
  const after = events.slice(events.indexOf(spell));
  assert.ok(!after.some(ready), "no standby after the bound");
  assert.equal(managed.standbyPid, undefined);
  assert.equal(await host.api("p", Bare).echo(2), 2);
  await until(() => processesWith(marker).length === 1, 10_000, "the plugin's one process");
  // A crash now restarts as without a standby, and does not start one either.
  const mark = events.length;
  Deno.kill(managed.current!.pid, "SIGKILL");
  const start = await seen("a plain restart", started, mark);
  assert.equal(start.standby, false);
  assert.equal(await host.api("p", Bare).echo(3), 3);
  assert.ok(!events.slice(mark).some(ready), "no standby once the bound is reached");
  assert.equal(events.filter(lost).length, STANDBY_LOSSES);
});

Deno.test("standbys that cannot start never fail the plugin; its crash then restarts as without one", async () => {
  // Only the first process of this plugin serves; every later one exits at once (code 9).
  const claims = await Deno.makeTempDir({ prefix: "plugbox-standby-" });
  const claim = JSON.stringify(join(claims, "first"));
  const prefix = `try { Deno.openSync(${claim}, { createNew: true, write: true }).close(); }
catch { console.error("not the first process"); Deno.exit(9); }\n`;
  const wants = [{ value: "*", reason: "claims being the first process" }];
  const { folder, main, marker } = await markedPlugin("deno", prefix, {
    description: "Serves only as the first process of its plugin.",
    permissions: { read: wants, write: wants },
  });
  await using _folder = folder;
  try {
    const { host, events, seen } = watchedHost();
    await using _ = host;
    const managed = await host.start("p", main, {
      ...quick(),
      permissions: { read: [claims], write: [claims] },
      unsafe: { writeAsRoot: true }, // the claim is a plain file in a folder of the test's own
      maxRestarts: 2,
      backoffInitialMs: 10,
    });
    await seen("the standby to be given up", off);
    const losses = events.filter(lost);
    assert.equal(losses.length, STANDBY_LOSSES);
    for (const loss of losses) assert.match(loss.detail, /could not start: .*code 9/);
    assert.equal(managed.state, "running");
    assert.equal(await host.api("p", Bare).echo(4), 4);
    // The crash falls back to the normal restart, which fails the same way, within the budget.
    Deno.kill(managed.current!.pid, "SIGKILL");
    const failed = await seen("the plugin to fail", (e) => e.type === "failed");
    assert.match(failed.type === "failed" ? failed.reason : "", /gave up after 2 restarts/);
    assert.equal(managed.state, "failed");
    await until(() => processesWith(marker).length === 0, 10_000, "no process left");
    assert.equal(events.filter(lost).length, STANDBY_LOSSES, "no standby start after the bound");
  } finally {
    await Deno.remove(claims, { recursive: true });
  }
});

Deno.test("a plugin that crashes at start with a standby on fails its start and leaves nothing", async () => {
  const { host, events } = watchedHost();
  await using _ = host;
  const error = await rejected(
    host.start("p", fixture("crash_on_start.ts"), quick()),
  );
  assert.match(String(error), /boom at start|exited/);
  const managed = host.get("p");
  assert.equal(managed.state, "failed");
  assert.equal(managed.standbyPid, undefined);
  assert.ok(!events.some((e) => e.type === "standby"), "no standby for a plugin that never ran");
  assert.equal(await within(managed.stop(), 10_000, "the stop"), undefined);
  assert.equal(managed.state, "stopped");
});

Deno.test('no standby is kept under restart: "never", and a non-boolean hotStandby is refused', async () => {
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const { host, events } = watchedHost();
  await using _ = host;
  const managed = await host.start("p", main, { ...quick(), restart: "never" });
  assert.equal(await host.api("p", Bare).echo(1), 1);
  assert.equal(managed.standbyPid, undefined);
  assert.deepEqual(processesWith(marker).length, 1);
  Deno.kill(managed.current!.pid, "SIGKILL");
  await until(() => managed.state === "failed", 10_000, "the plugin to fail");
  assert.ok(!events.some((e) => e.type === "standby"));
  await assert.rejects(
    host.start("q", main, { ...quick(), hotStandby: "yes" as unknown as boolean }),
    /"hotStandby" must be true or false, got string/,
  );
});
