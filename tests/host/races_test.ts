// Property tests for the lifecycle: random interleavings of start, stop,
// restart, crash, abort and calls against a real PluginHost, under both
// layers. Whatever the order or overlap, every promise settles and no
// process of the plugin is left (found by a marker in its argv, in /proc).
// A failing run prints its seed: PLUGBOX_RACE_SEED=<seed> replays it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ManagedOptions, PluginHost, previewStart } from "../../mod.ts";
import { launchPlugin } from "../../runner/host/mod.ts";
import { planPlugin } from "../../runner/sandbox/mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { fixture, LAYERS, testDeadline, until, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "../hostile/_hostile.ts";

// 50 per layer in the suite (a new seed each run; CI keeps the suite under 10 minutes);
// PLUGBOX_RACES=1000 for a deeper run.
const INTERLEAVINGS = Number(Deno.env.get("PLUGBOX_RACES") ?? 32);
// With a hot standby (one layer): 14 in the suite (tests/hostile/r108_test.ts runs three
// standby plugins per layer too); PLUGBOX_STANDBY_RACES for more.
const STANDBY_INTERLEAVINGS = Number(Deno.env.get("PLUGBOX_STANDBY_RACES") ?? 14);
const PARALLEL = 3;

/** A tiny deterministic random source, so a failing run can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** The cheap fixture in a folder of its own: its snapshot's path is a marker no other test shares. */
async function markedPlugin() {
  const source = await Deno.readTextFile(fixture("bare_echo.ts"));
  const folder = await pluginFolder({
    "main.ts": `${source}\n// race marker ${crypto.randomUUID()}\n`,
  });
  return { folder, main: join(folder.dir, "main.ts") };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Op = "stop" | "restart" | "crash" | "abort" | "call" | "start" | "same-tick" | "kill-standby";
const OPS: Op[] = ["stop", "restart", "crash", "abort", "call", "start", "same-tick"];
// With a hot standby, its idle death is one more thing that can happen at any time.
const STANDBY_OPS: Op[] = [...OPS, "kill-standby"];

interface Counts {
  starts: number;
  exits: number;
  interleavings: number;
  /** Standbys that came up, and those promoted (with `hotStandby`). */
  standbys: number;
  promotions: number;
}

/** One interleaving: a host, a plugin, and 3 to 8 random operations, some in the same tick. */
async function interleave(
  random: () => number,
  main: string,
  isolation: (typeof LAYERS)[number],
  counts: Counts,
  marker: string,
  hotStandby: boolean,
): Promise<string[]> {
  const log: string[] = [];
  const promises: Promise<unknown>[] = [];
  // Each promise is watched from the moment it exists: a rejection is an outcome, not a leak.
  const track = (promise: Promise<unknown>) => promises.push(promise.then(() => "ok", (e) => e));
  const host = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      if (event.type === "start") counts.starts++;
      if (event.type === "exit") counts.exits++;
      if (event.type === "standby" && event.change === "ready") counts.standbys++;
      if (event.type === "start" && event.standby) counts.promotions++;
    },
  });
  let controller = new AbortController();
  const options = (): ManagedOptions => ({
    contracts: [Bare],
    isolation,
    signal: controller.signal,
    stopGraceMs: 100,
    stopTermMs: 100,
    backoffInitialMs: Math.floor(random() * 20),
    healthIntervalMs: 0,
    maxRestarts: 3,
    hotStandby,
  });
  const first = host.start("p", main, options());
  track(first);
  // Every third interleaving lets the first start finish, so crashes, restarts and calls
  // also meet a running process, whatever the machine's speed.
  if (counts.interleavings++ % 3 === 0) {
    await first.catch(() => {});
    // With a standby, these also wait for it, so that crashes and restarts meet a ready one.
    const managed = host.get("p");
    const settled = () => managed.standbyPid !== undefined || managed.state !== "running";
    if (hotStandby) await until(settled, 20_000, "the standby (or the plugin's end)");
  }
  const steps = 3 + Math.floor(random() * 6);
  for (let i = 0; i < steps; i++) {
    const ops = hotStandby ? STANDBY_OPS : OPS;
    const op = ops[Math.floor(random() * ops.length)];
    log.push(op);
    // A third of the operations overlap closely, the rest land anywhere in a start's life.
    const roll = random();
    if (op !== "same-tick") await pause(roll < 0.3 ? 0 : roll < 0.6 ? roll * 30 : roll * 250);
    const managed = host.get("p");
    switch (op) {
      case "stop":
        track(host.stop("p"));
        break;
      case "restart":
        track(host.restart("p"));
        break;
      case "crash":
      case "kill-standby": {
        const pid = op === "crash" ? managed.current?.pid : managed.standbyPid;
        try {
          if (pid) Deno.kill(pid, "SIGKILL"); // a crash from outside, as the OOM killer would
        } catch {
          // it exited meanwhile
        }
        break;
      }
      case "abort":
        controller.abort();
        break;
      case "call":
        track(host.api("p", Bare, { timeout: 3000 }).echo(1));
        break;
      case "start":
        if (managed.state === "stopped" || managed.state === "failed") {
          controller = new AbortController();
          track(host.start("p", main, options()));
        }
        break;
    }
  }
  track(host[Symbol.asyncDispose]());
  await within(Promise.all(promises), 60_000, `every promise of [${log.join(", ")}]`);
  assert.equal(host.get("p").state, "stopped", `after [${log.join(", ")}]`);
  // Checked at once: a stop that resolved while a process (a standby too) lived on is the bug.
  assert.deepEqual(processesWith(marker), [], `processes left after [${log.join(", ")}]`);
  return log;
}

/** Runs `total` interleavings in lanes side by side; fails with the seed that replays it. */
async function interleavings(
  isolation: (typeof LAYERS)[number],
  total: number,
  hotStandby: boolean,
): Promise<void> {
  const seed = Number(Deno.env.get("PLUGBOX_RACE_SEED") ?? Date.now() % 1_000_000);
  let done = 0;
  const counts: Counts = { starts: 0, exits: 0, interleavings: 0, standbys: 0, promotions: 0 };
  try {
    // Lanes run side by side, each with a plugin folder (and so a marker) of its own.
    await Promise.all(Array.from({ length: PARALLEL }, async (_, lane) => {
      const { folder, main } = await markedPlugin();
      await using _folder = folder;
      const marker = (await previewStart(main, { isolation })).snapshot.dir;
      const random = rng(seed * PARALLEL + lane);
      while (done < total) {
        done++;
        await interleave(random, main, isolation, counts, marker, hotStandby);
      }
    }));
  } catch (error) {
    throw new Error(`Race test failed (PLUGBOX_RACE_SEED=${seed}): ${error}`, { cause: error });
  }
  assert.ok(done >= total);
  // Many interleavings really ran processes (the rest were stopped before one came up).
  assert.ok(
    counts.starts >= total / 3,
    `${counts.starts} processes started (PLUGBOX_RACE_SEED=${seed})`,
  );
  // With a standby, standbys really came up (promotions depend on timing: reported, not required).
  if (hotStandby) assert.ok(counts.standbys > 0, `no standby came up (PLUGBOX_RACE_SEED=${seed})`);
  const standbys = hotStandby ? `, ${counts.standbys} standbys, ${counts.promotions} promoted` : "";
  console.log(
    `${done} interleavings, ${counts.starts} processes started${standbys}, seed ${seed}`,
  );
}

Deno.test(`${STANDBY_INTERLEAVINGS} random interleavings with a hot standby [os] leave no process (standbys included) and no unsettled promise`, async () => {
  testDeadline(120_000);
  await interleavings("os", STANDBY_INTERLEAVINGS, true);
});

for (const isolation of LAYERS) {
  Deno.test(`${INTERLEAVINGS} random interleavings of start, stop, restart, crash, abort and calls [${isolation}] leave no process and no unsettled promise`, async () => {
    // Hundreds of starts: some 25 s on a quiet machine, several times that under load.
    testDeadline(240_000);
    await interleavings(isolation, INTERLEAVINGS, false);
  });

  Deno.test(`a start aborted in its first milliseconds settles and leaves no process [${isolation}]`, async () => {
    const { folder, main } = await markedPlugin();
    await using _ = folder;
    const plan = await planPlugin(main, { isolation });
    for (let delay = 0; delay < 40; delay++) {
      const controller = new AbortController();
      const starting = launchPlugin(plan, { contracts: [Bare], signal: controller.signal });
      if (delay === 0) controller.abort(); // the same tick as the spawn
      else setTimeout(() => controller.abort(), delay / 4);
      const outcome = await within(
        starting.then((plugin) => plugin.close(), (error) => error),
        30_000,
        `the start aborted after ${delay / 4} ms`,
      );
      assert.ok(outcome instanceof Error || outcome.reason !== undefined, String(outcome));
    }
    await until(() => processesWith(plan.nonce).length === 0, 10_000, "every aborted start to go");
  });
}
