// Review 140: what a plugin's failures make the host pay, summed over its restarts and over the
// plugins of one host. Each plugin is r140_fails.ts in a folder of its own, started honest; the
// folder is then rewritten to a failing mode and the process killed, so every restart (which
// snapshots the folder again) fails that way. What held is measured here by counts, bytes and the
// host thread's CPU; the two findings (a crash loop shielding a stuck plugin from its health
// pings; restarts that hang their handshake holding every launch turn of the host) have a test
// each that failed before their fix.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type PluginEvent, PluginHost, previewStart } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { LAUNCHES_AT_ONCE } from "../../runner/host/launch_gate.ts";
import { LAYERS, testDeadline, threadCpuMs, until, within } from "../_helpers.ts";
import { hostile, pluginFolder, processesWith } from "./_hostile.ts";

type Mode =
  | "honest"
  | "crash-after"
  | "crash-hs"
  | "hang"
  | "exit0"
  | "huge"
  | "malformed"
  | "crash-call"
  | "stderr"
  | "spin"
  | "faults";

const SOURCE = await Deno.readTextFile(hostile("r140_fails.ts"));

/** r140_fails.ts in a folder of its own, in `mode`; `swap` rewrites it and returns its snapshot's path. */
async function failing(mode: Mode) {
  const tag = crypto.randomUUID();
  const text = (m: Mode) =>
    `${
      SOURCE.replace('const MODE: string = "honest";', `const MODE: string = "${m}";`)
    }// ${tag}\n`;
  const folder = await pluginFolder({ "main.ts": text(mode) });
  const main = join(folder.dir, "main.ts");
  const marker = async (isolation: (typeof LAYERS)[number]) =>
    (await previewStart(main, { isolation })).snapshot.dir;
  return {
    main,
    marker,
    async swap(to: Mode, isolation: (typeof LAYERS)[number]): Promise<string> {
      await Deno.writeTextFile(main, text(to));
      return await marker(isolation);
    },
    [Symbol.asyncDispose]: () => folder[Symbol.asyncDispose](),
  };
}

const of = <T extends PluginEvent["type"]>(events: PluginEvent[], plugin: string, type: T) =>
  events.filter((e): e is Extract<PluginEvent, { type: T }> =>
    e.plugin === plugin && e.type === type
  );

for (const isolation of LAYERS) {
  Deno.test(`r140 [${isolation}]: a plugin that stopped answering pings is killed while another plugin of the host restarts in a loop`, async () => {
    testDeadline(60_000);
    await using looper = await failing("honest");
    await using stuck = await failing("spin");
    const events: PluginEvent[] = [];
    await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
    const common = { contracts: [Bare], isolation, stopGraceMs: 200 };
    await host.start("looper", looper.main, {
      ...common,
      healthIntervalMs: 0,
      maxRestarts: 1000,
      restartWindowMs: 60_000,
      backoffInitialMs: 50,
      backoffMaxMs: 150,
    });
    await looper.swap("crash-after", isolation);
    host.get("looper").current!.kill();
    // Within its options: a restart every few hundred ms, each a launch of the host's.
    await host.start("stuck", stuck.main, {
      ...common,
      healthIntervalMs: 200,
      healthTimeoutMs: 600,
      restart: "never",
    });
    const loops = () => of(events, "looper", "start").length;
    const before = loops();
    await until(
      () => of(events, "stuck", "unresponsive").length > 0 || loops() - before >= 60,
      50_000,
      "the stuck plugin's kill, or 60 restarts of the looper",
    );
    // Before the fix every missed ping was excused by a launch meanwhile: never killed.
    assert.equal(
      of(events, "stuck", "unresponsive").length,
      1,
      `killed as unresponsive within 60 restarts of another plugin (${loops() - before} came)`,
    );
    await within(until(() => host.get("stuck").state === "failed", 20_000, "x"), 25_000, "stuck");
  });
}

for (const via of ["restarts", "standbys"] as const) {
  Deno.test(`r140: ${via} whose handshake hangs hold at most half the host's launch turns; a start and a restart by hand go past them`, async () => {
    testDeadline(60_000);
    const isolation = "deno";
    const count = 2 * LAUNCHES_AT_ONCE;
    const plugins = await Promise.all(Array.from({ length: count }, () => failing("honest")));
    await using honest = await failing("honest");
    await using later = await failing("honest");
    const events: PluginEvent[] = [];
    await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
    const names = plugins.map((_, i) => `hang${i}`);
    try {
      const common = {
        contracts: [Bare],
        isolation,
        stopGraceMs: 200,
        healthIntervalMs: 0,
      } as const;
      await host.start("honest", honest.main, common);
      await Promise.all(plugins.map((p, i) =>
        host.start(names[i], p.main, {
          ...common,
          startTimeout: 12_000,
          backoffInitialMs: 50,
          maxRestarts: 100,
          hotStandby: via === "standbys",
        })
      ));
      // With standbys: each ready (honest) one is promoted at the kill, and the next hangs.
      if (via === "standbys") {
        await until(() => names.every((n) => host.get(n).standbyPid), 30_000, "every standby");
      }
      const markers: string[] = [];
      for (const p of plugins) markers.push(await p.swap("hang", isolation));
      for (const name of names) host.get(name).current!.kill();
      // Their launches spawned and hung: half the turns (all of them, before the fix).
      await until(
        () => markers.filter((m) => processesWith(m).length > 0).length >= LAUNCHES_AT_ONCE / 2,
        30_000,
        "the hostile launches to hang their handshakes",
      );
      const timedOut = () =>
        events.filter((e) =>
          (e.type === "restart" && e.reason.startsWith("restart failed")) ||
          (e.type === "standby" && e.change === "lost")
        ).length;
      await host.start("later", later.main, common);
      assert.equal(timedOut(), 0, "a start went before any hung handshake's deadline passed");
      await host.restart("honest");
      assert.equal(timedOut(), 0, "a restart by hand went before any deadline passed");
      assert.equal(await host.api("later", Bare).echo(3), 3);
      assert.equal(await host.api("honest", Bare).echo(4), 4);
    } finally {
      await host.stopAll();
      for (const p of plugins) await p[Symbol.asyncDispose]();
    }
  });
}

/** What one host of `plugins` plugins failing in `mode` paid, from the swap until every one gave up. */
interface Bill {
  plugins: number;
  launches: number;
  cpuPerLaunchMs: number;
  cpuPerFirstStartMs: number;
  logLines: number;
  logBytes: number;
  events: number;
  faults: number;
  longestReason: number;
}

// Two plugins of one host per mode: each fails the same way, and what is bounded is counted per
// launch and per plugin (four, as before, cost twice the launches for no more proof).
async function bill(mode: Mode, plugins = 2): Promise<Bill> {
  const isolation = "deno";
  const maxRestarts = 3;
  const folders = await Promise.all(Array.from({ length: plugins }, () => failing("honest")));
  const events: PluginEvent[] = [];
  let logLines = 0, logBytes = 0;
  const host = new PluginHost({
    handleSignals: false,
    onEvent: (e) => events.push(e),
    onLog: (entry) => {
      logLines++;
      logBytes += JSON.stringify(entry).length;
    },
  });
  const markers: string[] = [];
  try {
    const options = {
      contracts: [Bare],
      isolation,
      stopGraceMs: 200,
      healthIntervalMs: 0,
      startTimeout: 1_500,
      maxRestarts,
      restartWindowMs: 60_000,
      backoffInitialMs: 50,
      // Far above the delays used: a process up this long would start the doubling over.
      backoffMaxMs: 2_000,
    } as const;
    const cpu0 = threadCpuMs({ settled: true });
    await Promise.all(folders.map((f, i) => host.start(`p${i}`, f.main, options)));
    const cpu1 = threadCpuMs({ settled: true });
    for (const f of folders) markers.push(await f.marker(isolation), await f.swap(mode, isolation));
    const cpu2 = threadCpuMs({ settled: true });
    const names = folders.map((_, i) => `p${i}`);
    for (const name of names) host.get(name).current!.kill();
    // Restarted, it crashes only when called: each is called until it gives up.
    const calls = mode !== "crash-call" ? [] : names.map(async (name) => {
      while (host.get(name).state !== "failed") {
        await host.api(name, Bare).echo(1).catch(() => {});
        // A turn of the event loop: a crash is reported on one, and a call between the exit and
        // its report fails at once (the plugin is "running" until then).
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    });
    await within(
      until(() => names.every((n) => host.get(n).state === "failed"), 40_000, "x"),
      45_000,
      `every ${mode} plugin to give up`,
    );
    await Promise.all(calls);
    const cpu3 = threadCpuMs({ settled: true });
    for (const name of names) {
      const restarts = of(events, name, "restart");
      // The budget and the backoff held: maxRestarts restarts, each twice the last, then failed.
      assert.deepEqual(restarts.map((e) => e.delayMs), [50, 100, 200], `${mode}: ${name}'s delays`);
      assert.equal(of(events, name, "failed").length, 1);
    }
    const launches = plugins * maxRestarts;
    return {
      plugins,
      launches,
      cpuPerLaunchMs: (cpu3 - cpu2) / launches,
      cpuPerFirstStartMs: (cpu1 - cpu0) / plugins,
      logLines,
      logBytes,
      events: events.filter((e) => e.type !== "fault").length,
      faults: events.filter((e) => e.type === "fault").length,
      longestReason: Math.max(...names.map((n) => host.get(n).failure!.length)),
    };
  } finally {
    try {
      await within(host[Symbol.asyncDispose](), 20_000, "the host's stop");
    } finally {
      for (const f of folders) await f[Symbol.asyncDispose]();
    }
    for (const marker of markers) assert.deepEqual(processesWith(marker), [], `${mode}: left`);
  }
}

const MODES: Mode[] = [
  "crash-after",
  "crash-hs",
  "hang",
  "exit0",
  "huge",
  "malformed",
  "crash-call",
  "stderr",
  "faults",
];

for (const mode of MODES) {
  Deno.test(`r140: plugins that fail with ${mode} at every restart cost the host a bounded bill`, async () => {
    testDeadline(60_000);
    const paid = await bill(mode);
    console.log(`r140 ${mode}: ${JSON.stringify(paid)}`);
    // Per plugin: a start and an exit per launch, a restart per crash, one failed: 13 at most.
    assert.ok(paid.events <= 13 * paid.plugins, `${mode}: ${paid.events} events`);
    // Each launch's stderr within its second's 2,000 lines (stderr writes 2,000 a launch).
    assert.ok(paid.logLines <= 2_010 * paid.launches, `${mode}: ${paid.logLines} log lines`);
    // Faults told within each launch's budget (maxFaults, 100), the one that ends it included.
    assert.ok(paid.faults <= 101 * paid.launches, `${mode}: ${paid.faults} faults told`);
    assert.ok(paid.longestReason <= 1_000, `${mode}: a reason of ${paid.longestReason} chars`);
    // A failing launch costs the host's thread about what a start does (wide margin: the thread
    // reads the launch's stderr, 400 KB of it with "stderr").
    assert.ok(
      paid.cpuPerLaunchMs <= Math.max(100, 8 * paid.cpuPerFirstStartMs),
      `${mode}: ${paid.cpuPerLaunchMs.toFixed(1)} ms a launch, ${
        paid.cpuPerFirstStartMs.toFixed(1)
      } a first start`,
    );
  });
}

for (const mode of ["crash-after", "hang", "crash-hs", "stderr"] as const) {
  Deno.test(`r140: a host stopped in the middle of ${mode} restart loops settles every promise and leaves no process`, async () => {
    testDeadline(60_000);
    const isolation = "deno";
    const folders = await Promise.all(Array.from({ length: 4 }, () => failing("honest")));
    const events: PluginEvent[] = [];
    const host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
    const markers: string[] = [];
    const names = folders.map((_, i) => `p${i}`);
    try {
      await Promise.all(folders.map((f, i) =>
        host.start(names[i], f.main, {
          contracts: [Bare],
          isolation,
          stopGraceMs: 200,
          healthIntervalMs: 0,
          startTimeout: 1_500,
          maxRestarts: 1000,
          backoffInitialMs: 20,
          backoffMaxMs: 100,
          // The standby is made while its plugin crashes, from the failing folder.
          hotStandby: mode === "crash-after",
        })
      ));
      for (const f of folders) {
        markers.push(await f.marker(isolation), await f.swap(mode, isolation));
      }
      const restarts = (name: string) => of(events, name, "restart").length;
      // Killed at each look too: a standby promoted from before the swap would run on.
      await until(
        () => {
          for (const name of names) host.get(name).current?.kill();
          return names.every((n) => restarts(n) >= 3);
        },
        30_000,
        "three restarts of each",
      );
      // Waiting on the plugins as the host stops: a call and a restart by hand each.
      const pending = names.flatMap((name) => [
        host.api(name, Bare).echo(1),
        host.restart(name),
      ]);
      const settling = Promise.allSettled(pending);
      await within(host[Symbol.asyncDispose](), 20_000, "the host's stop");
      const settled = await within(settling, 5_000, "the calls and restarts");
      assert.equal(settled.length, 8);
      assert.deepEqual(names.map((n) => host.get(n).state), names.map(() => "stopped"));
      for (const marker of markers) assert.deepEqual(processesWith(marker), [], `${mode}: left`);
    } finally {
      await host.stopAll();
      for (const f of folders) await f[Symbol.asyncDispose]();
    }
  });
}

Deno.test("r140: a call made between a crash and its report waits for the restart; a caller that calls again on failure does not spin", async () => {
  testDeadline(60_000);
  const isolation = "deno";
  await using plugin = await failing("crash-call");
  await using host = new PluginHost({ handleSignals: false });
  await host.start("p", plugin.main, {
    contracts: [Bare],
    isolation,
    healthIntervalMs: 0,
    backoffInitialMs: 20,
    stopGraceMs: 200,
  });
  await plugin.swap("honest", isolation); // the restart runs an honest process
  const api = host.api("p", Bare);
  let failures = 0;
  // Called again at once on each failure, as a retry without a delay does: no turn of the event
  // loop between two calls. Before the fix each failed at once until the loop gave up, the exit
  // never reported (it needs such a turn): 99,999 failures, the host's thread held throughout.
  const answer = await (async () => {
    for (let i = 0; i < 100_000; i++) {
      try {
        return await api.echo(7);
      } catch {
        failures++;
      }
    }
  })();
  assert.equal(answer, 7, `answered after ${failures} failures`);
  assert.equal(failures, 1, "only the call the crash was in failed");
  assert.equal(host.get("p").restarts, 1);
});

Deno.test("r140: the backoff doubles while a plugin crashes at once, and starts over once it stayed up backoffMaxMs", async () => {
  testDeadline(60_000);
  const isolation = "deno";
  await using plugin = await failing("crash-call");
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
  const backoffMaxMs = 1_500;
  await host.start("p", plugin.main, {
    contracts: [Bare],
    isolation,
    healthIntervalMs: 0,
    backoffInitialMs: 50,
    backoffMaxMs,
    maxRestarts: 10,
    stopGraceMs: 200,
  });
  const managed = host.get("p");
  const crash = async () => {
    const starts = of(events, "p", "start").length;
    await managed.api(Bare).echo(1).catch(() => {});
    await until(() => of(events, "p", "start").length > starts, 20_000, "the restart");
  };
  for (let i = 0; i < 3; i++) await crash(); // each crash at once: 50, 100, 200 ms
  const upSince = Date.now();
  await until(() => Date.now() - upSince > backoffMaxMs + 100, 10_000, "a healthy spell");
  await crash(); // up longer than backoffMaxMs: the doubling starts over
  await crash();
  const delays = of(events, "p", "restart").map((e) => e.delayMs);
  assert.deepEqual(delays, [50, 100, 200, 50, 100]);
  assert.equal(managed.restarts, 5, "restarts counts every one, the healthy spell resets nothing");
  assert.equal(managed.state, "running");
});
