// Review 141, attack on this session's latest changes: calls to a managed plugin whose process is
// ending (683a380), cgroup permissions asked of parent folders (review 138), mounts read from
// /proc/self/mountinfo (review 139). Each attack test failed on the code it was written against
// (473aa2a).
import assert from "node:assert/strict";
import { type Plugin, PluginHost, PluginUnavailableError, previewStart } from "../../mod.ts";
import { startPlugin } from "../../runner/host/mod.ts";
import { Standby } from "../../runner/host/standby.ts";
import { Bare, Life } from "../fixtures/contracts.ts";
import { pluginFolder, processesWith } from "./_hostile.ts";
import { fixture, testDeadline, within } from "../_helpers.ts";
import { join } from "node:path";
import { assertBelowCodeJudged, mountOutcomes } from "./_mount_outcomes.ts";
import { tempFolder } from "./_python_shim.ts";
import { refuseKeyReaders } from "../../runner/sandbox/lock.ts";

const life = fixture("lifecycle.ts");

// With `whileRestarting: "fail"`, a call while the process is ending (killed, its exit not yet
// seen) or while a restart waits out its backoff was refused at once, without a turn of the event
// loop: a caller that retried at once spun in microtasks, the exit and the backoff's timer never
// came, and the plugin was never restarted (100,000 tries, 0 restarts, state "running" with its
// process killed). The same hold 683a380 ended for "wait", under the other policy.
Deno.test("r141: with whileRestarting 'fail', a caller retrying at once does not hold off the restart", async () => {
  await using host = new PluginHost({ handleSignals: false });
  const managed = await host.start("f", life, {
    contracts: [Life],
    isolation: "deno",
    healthIntervalMs: 0,
    backoffInitialMs: 20,
    whileRestarting: "fail",
  });
  const api = managed.api(Life);
  const killed = managed.current!;
  killed.kill();
  let tries = 0;
  let answer: number | undefined;
  let refusal: unknown;
  while (answer === undefined && tries < 100_000) {
    tries++;
    answer = await api.echo(7).catch((error) => void (refusal = error));
  }
  assert.ok(refusal instanceof PluginUnavailableError, String(refusal));
  assert.deepEqual({ answer, restarts: managed.restarts }, { answer: 7, restarts: 1 });
  assert.notEqual(managed.current, killed);
});

/**
 * What _r139_mount_host.ts says of write grants of second mounts of the cache's `snapshots` and
 * of plugin b's `data` (both below code), run with the README's narrowest host permissions
 * ("Host permissions"). Deno lets nothing short of --allow-all read /proc/self/mountinfo.
 */
const narrowHostOutcomes = () =>
  mountOutcomes((base) => [
    ...["--allow-read", `--allow-write=${base}`, "--allow-env"],
    "--allow-run=deno,bwrap,prlimit,setpriv,ldd,sh",
  ]);

// Review 139 placed paths by /proc/self/mountinfo, tested with a host run with --allow-all only.
// Deno refuses that file to anything less, the README's recommended host permissions among them
// (NotCapable: "Requires all access"), so there the mounts were never read, and write grants of
// a second mount of the cache's snapshots, and of plugin b's own data folder for b, were granted
// again. Now the mounts are read by the shell (`sh`, in the README's --allow-run) where Deno
// refuses them, as the cgroup probe reads them.
Deno.test("r141: a host with the README's narrowest permissions judges a second mount of a folder below code", async () => {
  const results = await narrowHostOutcomes();
  assertBelowCodeJudged(results);
});

// Review 139 read /proc/self/mountinfo once a check, and made each start's grant checks one check;
// but the sealing key's check (every start without a lock, and a lock's) compared each key with
// each grant as a check of its own: 25 grants read the mounts 25 times a key. A host with 2,000
// mounts (a container host) spent 274 ms of its thread a start there, 8 ms as one check; a
// preview of a plugin with 10 grants read them 11 times, now 2.
Deno.test("r141: the sealing key's check reads this host's mounts once, whatever the grants", async () => {
  await using base = await tempFolder("plugbox-r141-keys-");
  const folders = Array.from({ length: 25 }, (_, i) => join(base.path, `g${i}`));
  for (const folder of folders) await Deno.mkdir(folder);
  const grants = { read: folders.slice(0, 20), write: folders.slice(20) };
  const read = Deno.readTextFileSync;
  let reads = 0;
  Deno.readTextFileSync = (path) => {
    if (String(path) === "/proc/self/mountinfo") reads++;
    return read(path);
  };
  try {
    refuseKeyReaders(grants, undefined, "without a lock");
  } finally {
    Deno.readTextFileSync = read;
  }
  assert.equal(reads, 1);
});

// A ready standby this host killed (protocol faults while idle) is `ending` until its exit is
// seen, and Standby.take() withheld only one known `gone`: a crash of the current process in
// that window promoted a process that took no calls, whose exit then counted as a second crash.
Deno.test("r141: a standby this host killed is not handed over before its exit is seen", async () => {
  let held: Plugin | undefined;
  const ready = Promise.withResolvers<void>();
  const standby = new Standby({
    launch: (signal) =>
      startPlugin(life, { contracts: [Life], isolation: "deno", signal }).then((p) => held = p),
    windowMs: 180_000,
    report: (change) => change.change === "ready" && ready.resolve(),
  });
  standby.fill();
  await within(ready.promise, 20_000, "the standby");
  held!.kill();
  const taken = standby.take();
  await standby.clear();
  await held!.close();
  assert.equal(taken, undefined);
});

const FUZZ = Number(Deno.env.get("PLUGBOX_R141_FUZZ") ?? 30);
const CALL_MS = 1500;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A tiny deterministic random source, so a failing run can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

type Op = "kill" | "kill-now" | "crash" | "restart" | "stop" | "abort" | "calls" | "same-tick";
const OPS: Op[] = ["kill", "kill-now", "crash", "restart", "stop", "abort", "calls", "same-tick"];

/**
 * One interleaving of plugbox's own kills (the process `ending`, its exit not yet seen) with
 * crashes, restarts, stops, aborts and calls, under a random policy: each call settles within its
 * deadline (and some slack), every promise settles, and no process is left.
 */
async function endingInterleaving(random: () => number, main: string, marker: string) {
  const log: string[] = [];
  const promises: Promise<unknown>[] = [];
  const late: string[] = [];
  const track = (promise: Promise<unknown>) => promises.push(promise.then(() => "ok", (e) => e));
  const host = new PluginHost({ handleSignals: false });
  const controller = new AbortController();
  const policy = {
    whileRestarting: random() < 0.5 ? "fail" as const : "wait" as const,
    restart: random() < 0.2 ? "never" as const : "on-failure" as const,
    maxRestarts: 1 + Math.floor(random() * 3),
    hotStandby: random() < 0.3,
  };
  log.push(JSON.stringify(policy));
  const started = host.start("p", main, {
    contracts: [Bare],
    isolation: "deno",
    signal: controller.signal,
    stopGraceMs: 100,
    stopTermMs: 100,
    backoffInitialMs: Math.floor(random() * 30),
    healthIntervalMs: 0,
    ...policy,
  });
  track(started);
  await started.catch(() => {});
  const managed = host.get("p");
  const steps = 4 + Math.floor(random() * 6);
  for (let i = 0; i < steps; i++) {
    const op = OPS[Math.floor(random() * OPS.length)];
    log.push(op);
    const roll = random();
    if (op !== "same-tick") await pause(roll < 0.4 ? 0 : roll * 150);
    switch (op) {
      case "kill":
        managed.current?.kill();
        break;
      case "kill-now":
        managed.current?.kill({ wait: false });
        break;
      case "crash":
        try {
          if (managed.current) Deno.kill(managed.current.pid, "SIGKILL");
        } catch {
          // it exited meanwhile
        }
        break;
      case "restart":
        track(managed.restart());
        break;
      case "stop":
        track(managed.stop());
        break;
      case "abort":
        controller.abort();
        break;
      case "calls":
        for (let c = 0; c < 3; c++) {
          const begun = Date.now();
          track(
            managed.api(Bare, { timeout: CALL_MS }).echo(c).finally(() => {
              const took = Date.now() - begun;
              if (took > CALL_MS + 2000) late.push(`a call settled after ${took} ms`);
            }),
          );
        }
        break;
    }
  }
  track(host[Symbol.asyncDispose]());
  await within(Promise.all(promises), 60_000, `every promise of [${log.join(", ")}]`);
  assert.deepEqual(late, [], `calls past their deadline in [${log.join(", ")}]`);
  assert.equal(managed.state, "stopped", `after [${log.join(", ")}]`);
  assert.deepEqual(processesWith(marker), [], `processes left after [${log.join(", ")}]`);
}

Deno.test(`r141: ${FUZZ} random interleavings of plugbox's own kills with crashes, restarts, stops, aborts and calls settle every call within its deadline and leave no process`, async () => {
  testDeadline(240_000);
  const source = await Deno.readTextFile(fixture("bare_echo.ts"));
  await using folder = await pluginFolder({
    "main.ts": `${source}\n// r141 marker ${crypto.randomUUID()}\n`,
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation: "deno" })).snapshot.dir;
  const seed = Number(Deno.env.get("PLUGBOX_RACE_SEED") ?? Date.now() % 1_000_000);
  const random = rng(seed);
  try {
    for (let i = 0; i < FUZZ; i++) await endingInterleaving(random, main, marker);
  } catch (error) {
    throw new Error(`r141 fuzz failed (PLUGBOX_RACE_SEED=${seed}): ${error}`, { cause: error });
  }
});
