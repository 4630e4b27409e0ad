// Review 80, lifecycle: what a user's listener does from inside a transition. `onEvent` is called
// synchronously from the lifecycle's actions; a listener that stops the plugin there (directly, or
// by aborting its signal) ran a whole `stop` in the middle of another step, whose remaining actions
// then ran against a plugin already stopping; a restart asked for there was settled by the step it
// ran in. The stop tests wait on the stop's own promise, which resolves "once no process of it is
// left and no start is under way", and look in /proc then. Last, a start refused for its options.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ManagedOptions, type PluginEvent, PluginHost, previewStart } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { fixture, testDeadline, until, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "./_hostile.ts";

/** r80_lingers.ts in a folder of its own: its snapshot's path marks its processes. */
async function markedLingerer(isolation: ManagedOptions["isolation"] = "deno") {
  const source = await Deno.readTextFile(new URL("./plugins/r80_lingers.ts", import.meta.url));
  const folder = await pluginFolder({
    "main.ts": `${source}\n// r80 marker ${crypto.randomUUID()}\n`,
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation })).snapshot.dir;
  return { folder, main, marker };
}

/** The layer of the listener fuzz below (PLUGBOX_R80_LAYER; the Deno layer, the cheapest, by default). */
const FUZZ_LAYER = (Deno.env.get("PLUGBOX_R80_LAYER") ?? "deno") as ManagedOptions["isolation"];

/** The cheap fixture (bare_echo.ts, which exits once its input closes) in a folder of its own. */
async function markedPlugin() {
  const source = await Deno.readTextFile(fixture("bare_echo.ts"));
  const folder = await pluginFolder({
    "main.ts": `${source}\n// r80 marker ${crypto.randomUUID()}\n`,
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation: FUZZ_LAYER })).snapshot.dir;
  return { folder, main, marker };
}

/** Its stop waits out a grace period in which a start begun beside it has time to spawn. */
const lingering = (isolation: ManagedOptions["isolation"] = "deno"): ManagedOptions => ({
  contracts: [Bare],
  isolation,
  hotStandby: true,
  healthIntervalMs: 0,
  stopGraceMs: 1500,
  stopTermMs: 500,
});

/** A host whose listener stops plugin "p" (once) at the first event that `when` picks. */
function stoppingHost(when: (event: PluginEvent) => boolean) {
  const events: PluginEvent[] = [];
  let stopped: Promise<unknown> | undefined;
  const host = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      events.push(event);
      if (!stopped && when(event)) stopped = host.stop("p");
    },
  });
  return { host, events, stop: () => stopped };
}

const readyStandby = (e: PluginEvent) => e.type === "standby" && e.change === "ready";

Deno.test("a listener that stops the plugin at a standby's promotion: the stop leaves no process", async () => {
  const { folder, main, marker } = await markedLingerer();
  await using _folder = folder;
  const { host, events, stop } = stoppingHost((e) => e.type === "restart" && e.standby);
  await using _ = host;
  const managed = await host.start("p", main, { ...lingering(), stopGraceMs: 200 });
  await until(() => events.some(readyStandby), 20_000, "a ready standby");
  Deno.kill(managed.current!.pid, "SIGKILL");
  await until(() => stop() !== undefined, 20_000, "the listener's stop");
  await within(stop()!, 20_000, "the listener's stop");
  assert.equal(managed.state, "stopped");
  assert.deepEqual(processesWith(marker), [], "no process of the plugin left");
  assert.equal(managed.current?.pid, undefined, "a stopped plugin has no current process");
});

Deno.test("a listener that stops the plugin at its start (hotStandby): the stop leaves no standby", async () => {
  const { folder, main, marker } = await markedLingerer();
  await using _folder = folder;
  const { host, stop } = stoppingHost((e) => e.type === "start");
  await using _ = host;
  const managed = await host.start("p", main, lingering());
  await within(stop()!, 20_000, "the listener's stop");
  assert.equal(managed.state, "stopped");
  assert.deepEqual(processesWith(marker), [], "no process of the plugin left (a standby)");
});

Deno.test("a listener that stops the plugin when its idle standby is lost: the stop leaves no standby", async () => {
  const { folder, main, marker } = await markedLingerer();
  await using _folder = folder;
  const { host, events, stop } = stoppingHost((e) => e.type === "standby" && e.change === "lost");
  await using _ = host;
  const managed = await host.start("p", main, lingering());
  await until(() => events.some(readyStandby), 20_000, "a ready standby");
  Deno.kill(managed.standbyPid!, "SIGKILL");
  await until(() => stop() !== undefined, 20_000, "the listener's stop");
  await within(stop()!, 20_000, "the listener's stop");
  assert.equal(managed.state, "stopped");
  assert.deepEqual(processesWith(marker), [], "no process of the plugin left (a new standby)");
});

Deno.test("a listener that restarts the plugin when told of its crash (hotStandby): its standby is used, none is left", async () => {
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const events: PluginEvent[] = [];
  let restarted: Promise<unknown> | undefined;
  const host: PluginHost = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      events.push(event);
      if (event.type === "exit" && !event.expected && !restarted) restarted = host.restart("p");
    },
  });
  await using _ = host;
  const managed = await host.start("p", main, {
    contracts: [Bare],
    isolation: FUZZ_LAYER,
    hotStandby: true,
    healthIntervalMs: 0,
  });
  await until(() => events.some(readyStandby), 20_000, "a ready standby");
  const standby = managed.standbyPid!;
  Deno.kill(managed.current!.pid, "SIGKILL");
  await until(() => restarted !== undefined, 20_000, "the listener's restart");
  await within(restarted!, 20_000, "the listener's restart");
  // The crash's own handling took the standby for a promotion the restart's state refused: it ran
  // on, no one's, past the stop (found by the listener fuzz, seed 744074).
  assert.equal(managed.current?.pid, standby, "the restart took the standby");
  await within(host.stop("p"), 20_000, "the stop");
  assert.deepEqual(processesWith(marker), [], "no process of the plugin left");
});

Deno.test("a restart asked for by the listener told of a failed start settles with its own outcome, not the start's", async () => {
  let restarted: Promise<unknown> | undefined;
  let stateWhenSettled: string | undefined;
  const host: PluginHost = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      if (event.type !== "failed" || restarted) return;
      const settled = () => void (stateWhenSettled = host.get("p").state);
      restarted = host.restart("p");
      restarted.then(settled, settled);
    },
  });
  await using _ = host;
  const crashing = new URL("../fixtures/crash_on_start.ts", import.meta.url);
  await assert.rejects(host.start("p", crashing, {
    contracts: [Bare],
    healthIntervalMs: 0,
    restart: "never", // a restart whose start fails leaves it failed, not in its backoff
  }));
  assert.ok(restarted, "the listener was told");
  await assert.rejects(within(restarted, 20_000, "the listener's restart"));
  // Settled once the restart it asked for is over: its process failed to start too, so it failed.
  assert.equal(stateWhenSettled, "failed", "the restart settled while it was still under way");
});

// The property of races_test.ts, with the operations also made from inside the host's listener, at
// whatever event it is told of (a start, an exit, a restart, a promotion, a failure, a standby's
// change), synchronously, as a user's `onEvent` would. PLUGBOX_R80_SEED replays a failing run.
const LISTENER_INTERLEAVINGS = Number(Deno.env.get("PLUGBOX_R80_RACES") ?? 9);

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

type Op = "stop" | "restart" | "abort" | "killNow" | "crash" | "kill-standby" | "start";
const OPS: Op[] = ["stop", "restart", "abort", "killNow", "crash", "kill-standby", "start"];

async function listenerInterleaving(random: () => number, main: string, marker: string) {
  const log: string[] = [];
  const promises: Promise<unknown>[] = [];
  const track = (promise: Promise<unknown>) => promises.push(promise.then(() => "ok", (e) => e));
  let controller = new AbortController();
  const hotStandby = random() < 0.6;
  const options = (): ManagedOptions => ({
    contracts: [Bare],
    isolation: FUZZ_LAYER,
    signal: controller.signal,
    stopGraceMs: 100,
    stopTermMs: 100,
    backoffInitialMs: Math.floor(random() * 20),
    healthIntervalMs: 0,
    maxRestarts: 3,
    hotStandby,
  });
  const act = (op: Op, where: string) => {
    log.push(`${where}:${op}`);
    const managed = host.get("p");
    switch (op) {
      case "stop":
        return track(host.stop("p"));
      case "restart":
        return track(host.restart("p"));
      case "abort":
        return controller.abort();
      case "killNow":
        return host.killNow();
      case "crash":
      case "kill-standby": {
        const pid = op === "crash" ? managed.current?.pid : managed.standbyPid;
        try {
          if (pid) Deno.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
        return;
      }
      case "start":
        if (managed.state !== "stopped" && managed.state !== "failed") return;
        controller = new AbortController();
        return track(host.start("p", main, options()));
    }
  };
  let acts = 0;
  const host: PluginHost = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      if (acts >= 4 || random() > 0.3) return;
      acts++;
      act(OPS[Math.floor(random() * OPS.length)], `on-${event.type}`);
    },
  });
  track(host.start("p", main, options()));
  const steps = 2 + Math.floor(random() * 5);
  for (let i = 0; i < steps; i++) {
    const roll = random();
    await new Promise((resolve) => setTimeout(resolve, roll < 0.3 ? 0 : roll * 400));
    act(OPS[Math.floor(random() * OPS.length)], "outside");
  }
  track(host[Symbol.asyncDispose]());
  await within(Promise.all(promises), 60_000, `every promise of [${log.join(", ")}]`);
  assert.equal(host.get("p").state, "stopped", `after [${log.join(", ")}]`);
  assert.deepEqual(processesWith(marker), [], `processes left after [${log.join(", ")}]`);
}

Deno.test(`${LISTENER_INTERLEAVINGS} random interleavings with operations made from the listener leave no process and no unsettled promise`, async () => {
  testDeadline(240_000);
  const { folder, main, marker } = await markedPlugin();
  await using _folder = folder;
  const seed = Number(Deno.env.get("PLUGBOX_R80_SEED") ?? Date.now() % 1_000_000);
  const random = rng(seed);
  for (let i = 0; i < LISTENER_INTERLEAVINGS; i++) {
    try {
      await listenerInterleaving(random, main, marker);
    } catch (error) {
      throw new Error(`Failed at interleaving ${i} (PLUGBOX_R80_SEED=${seed}): ${error}`, {
        cause: error,
      });
    }
  }
});

Deno.test("a start refused for its options leaves the failed plugin of that name as it was: failed, and restartable", async () => {
  const { folder, main } = await markedPlugin();
  await using _folder = folder;
  await using host = new PluginHost({ handleSignals: false });
  const failed = await host.start("p", main, {
    contracts: [Bare],
    healthIntervalMs: 0,
    restart: "never",
  });
  Deno.kill(failed.current!.pid, "SIGKILL");
  await until(() => failed.state === "failed", 20_000, "the plugin's failure");
  const refused = host.start("p", main, { contracts: [Bare], maxRestarts: -1 });
  await assert.rejects(refused, TypeError);
  assert.equal(host.get("p"), failed, "the name still names the failed plugin");
  assert.equal(failed.state, "failed", "a refused start stopped the plugin it did not replace");
  await within(failed.restart(), 20_000, "the restart of the failed plugin");
  assert.equal(failed.state, "running");
});

for (const at of ["start", "promotion"] as const) {
  Deno.test(`a restart asked for by the listener told of a ${at} resolves once its own process runs`, async () => {
    const { folder, main } = await markedPlugin();
    await using _folder = folder;
    const events: PluginEvent[] = [];
    let first: number | undefined;
    let restarted: Promise<unknown> | undefined;
    let settled: { state: string; pid?: number } | undefined;
    const host: PluginHost = new PluginHost({
      handleSignals: false,
      onEvent: (event) => {
        events.push(event);
        const told = at === "start"
          ? event.type === "start"
          : event.type === "restart" && event.standby;
        if (!told || restarted) return;
        const managed = host.get("p");
        // The process the restart is to replace: the first, or the standby being promoted.
        const promoted = events.findLast((e) => e.type === "standby" && e.change === "ready");
        first = at === "start" ? managed.current?.pid : (promoted as { pid: number }).pid;
        restarted = host.restart("p");
        const done = () => void (settled = { state: managed.state, pid: managed.current?.pid });
        restarted.then(done, done);
      },
    });
    await using _ = host;
    const managed = await host.start("p", main, {
      contracts: [Bare],
      healthIntervalMs: 0,
      hotStandby: at === "promotion",
      stopGraceMs: 200,
    });
    if (at === "promotion") {
      await until(() => events.some(readyStandby), 20_000, "a ready standby");
      Deno.kill(managed.current!.pid, "SIGKILL");
      await until(() => restarted !== undefined, 20_000, "the listener's restart");
    }
    await within(restarted!, 20_000, "the listener's restart");
    assert.equal(settled?.state, "running", "resolved while the restart was under way");
    assert.notEqual(settled?.pid, first, "resolved with the process it was to replace");
  });
}

Deno.test("a stopped plugin lets go of the caller's signal: one long-lived signal does not hold every start of a name", async () => {
  const controller = new AbortController();
  const listening = new Set<unknown>();
  // The signal's own methods, watched: what plugbox adds and takes away on it.
  const add = controller.signal.addEventListener.bind(controller.signal);
  const remove = controller.signal.removeEventListener.bind(controller.signal);
  controller.signal.addEventListener = (type: string, listener: unknown, options?: unknown) => {
    listening.add(listener);
    add(type, listener as EventListener, options as AddEventListenerOptions);
  };
  controller.signal.removeEventListener = (type: string, listener: unknown, options?: unknown) => {
    listening.delete(listener);
    remove(type, listener as EventListener, options as EventListenerOptions);
  };
  await using host = new PluginHost({ handleSignals: false });
  for (let round = 0; round < 3; round++) {
    await host.start("p", fixture("bare_echo.ts"), {
      contracts: [Bare],
      isolation: "deno",
      signal: controller.signal,
    });
    assert.ok(listening.size > 0, "the running plugin listens on the signal");
    await host.stop("p");
  }
  assert.equal(listening.size, 0, "no stopped plugin still listens on the signal");
});
