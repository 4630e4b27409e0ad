import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { type LogEntry, PluginHost, PluginUnavailableError } from "../../mod.ts";
import { Calc, Life } from "../fixtures/contracts.ts";
import {
  fixture,
  freshCache,
  noInheritedDescriptors,
  rejected,
  slowRunDeno,
  testDeadline,
  until,
  within,
} from "../_helpers.ts";
import { childrenOf, processesWith } from "../hostile/_hostile.ts";
import { liveObjects } from "../_heap.ts";
import { send } from "../../runner/sandbox/proc_tree.ts";
import { seedBuildsEnded } from "../../runner/sandbox/code_cache.ts";
import { ensureSdk } from "../../runner/sandbox/sdk.ts";
import { waitForClaim } from "../../runner/sandbox/claim_file.ts";

const life = fixture("lifecycle.ts");

Deno.test("PluginHost starts, lists, stops and disposes named plugins", async () => {
  const host = new PluginHost({ handleSignals: false });
  const a = await host.start("a", life, { contracts: [Life] });
  await host.start("b", life, { contracts: [Life] });
  assert.deepEqual(host.list(), [
    { name: "a", state: "running", restarts: 0 },
    { name: "b", state: "running", restarts: 0 },
  ]);
  assert.equal(host.get("a"), a);
  assert.throws(() => host.get("zzz"), /No plugin named "zzz"/);
  // Promise-returning methods reject, so that `.catch()` on them sees it (they threw at the call).
  for (const call of [() => host.stop("zzz"), () => host.restart("zzz")]) {
    const settled = call().then(() => "resolved", (error: Error) => error.message);
    assert.match(await settled, /No plugin named "zzz"/);
  }
  await assert.rejects(
    host.start("a", life, { contracts: [Life] }),
    /a plugin of that name is running/,
  );
  const status = await host.stop("a");
  assert.equal(status?.reason, "stopped");
  const error = await rejected<PluginUnavailableError>(host.api("a", Life).echo(1));
  assert.ok(error instanceof PluginUnavailableError);
  assert.equal(error.state, "stopped");
  const nonce = host.get("b").current!.plan.nonce;
  await host[Symbol.asyncDispose]();
  assert.equal(host.get("b").state, "stopped");
  assert.deepEqual(processesWith(nonce), []);
  await assert.rejects(host.start("c", life, { contracts: [Life] }), /the host was disposed/);
});

Deno.test("logs arrive leveled and tagged; uncaught errors and their stack at error level", async () => {
  const entries: LogEntry[] = [];
  let ended!: () => void;
  const failed = new Promise<void>((resolve) => ended = resolve);
  await using host = new PluginHost({
    handleSignals: false,
    onLog: (e) => entries.push(e),
    onEvent: (e) => e.type === "failed" && ended(),
  });
  const managed = await host.start("logger", life, { contracts: [Life], restart: "never" });
  await managed.api(Life).logSomething();
  await managed.api(Life).throwLater();
  // The uncaught error ends the plugin; its stderr is fully read before the exit is reported.
  await within(failed, 10_000, "the uncaught error to end the plugin");
  const structured = entries.filter((e) => e.structured);
  assert.deepEqual(structured.map((e) => [e.level, e.message]), [
    ["debug", "debugging"],
    ["info", "working"],
    ["warn", "careful \\x1b[31mred\\x1b[0m"],
    ["error", "failed"],
  ]);
  assert.deepEqual(structured[2].fields, { path: "\\x1b]0;title\\x07" });
  assert.ok(entries.every((e) => e.plugin === "logger"));
  assert.equal(entries.find((e) => e.message === "a plain text line")!.level, "info");
  const start = entries.findIndex((e) =>
    e.message.startsWith("error: Uncaught Error: uncaught later")
  );
  assert.ok(start >= 0, JSON.stringify(entries.map((e) => e.message)));
  const block = entries.slice(start);
  assert.ok(block.some((e) => /^\s+at /.test(e.message)), "the stack came too");
  assert.ok(block.every((e) => e.level === "error"), JSON.stringify(block));
});

for (const hotStandby of [false, true]) {
  Deno.test(
    `listeners that throw, or whose promises reject, change nothing in a plugin's life${
      hotStandby ? " (hot standby)" : ""
    }`,
    async () => {
      // Before: a start never settled, a crash left the plugin "running" dead, a promoted standby
      // outlived dispose(), and one throwing onLog stopped stderr's reading for good (review 59).
      const types: string[] = [];
      let logs = 0;
      const host = new PluginHost({
        handleSignals: false,
        onEvent: (event) => {
          types.push(event.type);
          if (types.length % 2) throw new Error("a listener's bug");
          return Promise.reject(new Error("an async listener's bug"));
        },
        onLog: () => {
          logs++;
          throw new Error("a log listener's bug");
        },
      });
      const managed = await within(
        host.start("p", life, {
          contracts: [Life],
          hotStandby,
          backoffInitialMs: 0,
          // Called first: its throw must not keep the entry from the host's own listener.
          onLog: () => {
            throw new Error("a plugin's log listener's bug");
          },
        }),
        20_000,
        "the start",
      );
      const api = managed.api(Life);
      for (let i = 0; i < 3; i++) await api.logSomething();
      await until(() => logs >= 15, 10_000, "every log line, past the listener's throws");
      if (hotStandby) await until(() => managed.standbyPid !== undefined, 20_000, "the standby");
      const nonces = [managed.current!.plan.nonce];
      const first = await api.instance();
      await rejected(api.crash(3));
      await until(
        () => managed.state === "running" && managed.current?.plan.nonce !== nonces[0],
        20_000,
        "the restart",
      );
      nonces.push(managed.current!.plan.nonce);
      assert.notEqual(await api.instance(), first);
      assert.ok(types.includes("exit") && types.includes("restart"), types.join());
      await host[Symbol.asyncDispose]();
      assert.equal(managed.state, "stopped");
      for (const nonce of nonces) assert.deepEqual(processesWith(nonce), []);
      if (hotStandby) assert.equal(managed.standbyPid, undefined);
    },
  );
}

Deno.test("a failed plugin replaced by a new start of its name cannot be restarted behind the host's back", async () => {
  await using host = new PluginHost({ handleSignals: false });
  const old = await host.start("p", life, { contracts: [Life], restart: "never" });
  await rejected(old.api(Life).crash(3));
  await until(() => old.state === "failed", 10_000, "the plugin to fail");
  const replacement = await host.start("p", life, { contracts: [Life] });
  assert.equal(old.state, "stopped");
  await rejected(old.restart());
  assert.equal(old.current, undefined);
  assert.equal(host.get("p"), replacement);
});

Deno.test("remove(name) stops a plugin and forgets it: a host that starts ever new names keeps none of the ones it removed", async () => {
  testDeadline(120_000);
  await using host = new PluginHost({ handleSignals: false, defaults: { healthIntervalMs: 0 } });
  await host.start("keep", life, { contracts: [Life] });
  const a = await host.start("a", life, { contracts: [Life] });
  const nonce = a.current!.plan.nonce;
  const status = await host.remove("a");
  assert.equal(status?.reason, "stopped");
  assert.equal(a.state, "stopped");
  assert.deepEqual(processesWith(nonce), []);
  assert.deepEqual(host.list().map((p) => p.name), ["keep"]);
  assert.throws(() => host.get("a"), /No plugin named "a"/);
  assert.match(
    await host.remove("a").then(() => "resolved", (error: Error) => error.message),
    /No plugin named "a"/,
  );
  // The name is free again; a removal while a start is under way stops that start too.
  const starting = host.start("a", life, { contracts: [Life] });
  const removed = host.remove("a");
  const outcome = await starting.then((p) => p.state, (error: Error) => error.name);
  await removed;
  assert.ok(["stopped", "PluginUnavailableError"].includes(outcome), outcome);
  assert.deepEqual(host.list().map((p) => p.name), ["keep"]);
  // What the host keeps: no ManagedPlugin of a removed name (stopped ones stay, one per name).
  const before = liveObjects(["ManagedPlugin"]).ManagedPlugin;
  for (let i = 0; i < 6; i++) {
    await host.start(`job-${i}`, life, { contracts: [Life] });
    assert.equal(await host.api(`job-${i}`, Life).echo(i), i);
    await host.remove(`job-${i}`);
  }
  assert.equal(liveObjects(["ManagedPlugin"]).ManagedPlugin, before);
  assert.equal(childrenOf(Deno.pid).length, 1, "only keep's process is left");
});

Deno.test("killNow() is a stop: nothing it kills comes back", async () => {
  const events: string[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e.type) });
  const managed = await host.start("p", life, { contracts: [Life], backoffInitialMs: 0 });
  const nonce = managed.current!.plan.nonce;
  host.killNow();
  await until(() => managed.state === "stopped", 10_000, "the stop");
  assert.deepEqual(processesWith(nonce), []);
  assert.equal(managed.restarts, 0);
  assert.ok(!events.includes("restart"), events.join());
  await rejected(managed.api(Life).echo(1));
});

// Each round is the same trial: 20 plugins started at once by a new host, then stopped. Two
// rounds show a host after another's stopAll() leaves nothing either; PLUGBOX_LEAK_ROUNDS=10
// for a deeper run (100 starts took 14 s of a suite run under load).
const LEAK_ROUNDS = Number(Deno.env.get("PLUGBOX_LEAK_ROUNDS") ?? 2);

Deno.test(`20 plugins started and stopped ${LEAK_ROUNDS} times leave no process behind`, async () => {
  // 40 starts: some 6 s on a quiet machine, several times that under load.
  testDeadline(36_000 * LEAK_ROUNDS);
  for (let round = 0; round < LEAK_ROUNDS; round++) {
    await using host = new PluginHost({ handleSignals: false, defaults: { healthIntervalMs: 0 } });
    const plugins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => host.start(`p${i}`, life, { contracts: [Life] })),
    );
    assert.equal((await Promise.all(plugins.map((p) => p.api(Life).echo(round)))).length, 20);
    await host.stopAll();
    assert.deepEqual(childrenOf(Deno.pid), [], `round ${round}: the host has no child left`);
  }
});

/** Starts the host fixture and waits for it to report its plugins' nonces. */
async function hostProgram(args: string[], env?: Record<string, string>) {
  // Without sh on its PATH (env given), a host starts a plugin only if it inherited nothing.
  const argv = [Deno.execPath(), "run", "-A", fixture("host_with_plugins.ts").pathname, ...args];
  const [command, ...rest] = env ? noInheritedDescriptors(argv) : argv;
  const child = new Deno.Command(command, {
    args: rest,
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(reader.read(), 30_000, "the host to start its plugins");
    if (done) throw new Error(`host exited early: ${text}`);
    text += value;
  }
  const { nonces } = JSON.parse(text.split("\n")[0]) as { nonces: string[] };
  const reap = async (): Promise<Deno.CommandStatus> => {
    const [status] = await Promise.all([child.status, reader.cancel(), child.stderr.cancel()]);
    return status;
  };
  return { child, nonces, reap };
}

Deno.test("SIGTERM to the host stops every plugin before the host exits", async () => {
  const { child, nonces, reap } = await hostProgram(["auto", "3"]);
  assert.equal(nonces.length, 3);
  for (const nonce of nonces) assert.equal(processesWith(nonce).length > 0, true);
  child.kill("SIGTERM");
  const status = await within(reap(), 10_000, "the host to exit");
  assert.equal(status.code, 143);
  for (const nonce of nonces) assert.deepEqual(processesWith(nonce), [], "stopped, not orphaned");
});

for (const isolation of ["os", "deno"]) {
  Deno.test(`a SIGKILLed host takes its plugins with it within a second (${isolation})`, async () => {
    // Even plugins that ignore EOF and SIGTERM: bubblewrap's --die-with-parent under
    // the OS layer, setpriv --pdeathsig under the Deno layer. Three hosts start at once, beside
    // two busy loops: under such load a sandbox's reaper used to be held stopped before it
    // armed its death signal, and outlived its host.
    const busy = [0, 1].map(() =>
      new Deno.Command("sh", { args: ["-c", "while :; do :; done"], stdout: "null" }).spawn()
    );
    let hosts: Awaited<ReturnType<typeof hostProgram>>[];
    try {
      hosts = await Promise.all(
        [0, 1, 2].map(() => hostProgram([isolation, "3", "t9_refuses_to_die.ts"])),
      );
    } finally {
      for (const loop of busy) loop.kill("SIGKILL");
      await Promise.all(busy.map((loop) => loop.status));
    }
    const nonces = hosts.flatMap((host) => host.nonces);
    try {
      for (const { child } of hosts) child.kill("SIGKILL");
      await Promise.all(hosts.map((host) => host.reap()));
      await until(
        () => nonces.every((n) => processesWith(n).length === 0),
        1000,
        "the plugins to die",
      );
    } finally {
      // A failure must not leave plugins that refuse to die spinning for the rest of the run.
      for (const pid of nonces.flatMap((n) => processesWith(n))) send(pid, "SIGKILL");
    }
  });
}

/** Runs host_killer.ts with `args` (isolation, trials, latest kill in ms, anchor): its report. */
async function killHosts(...args: string[]): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fixture("host_killer.ts").pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const isolation of ["deno", "landlock", "os"]) {
  Deno.test(`a host SIGKILLed in the first milliseconds of a plugin's start leaves nothing (${isolation})`, async () => {
    // Death signals are armed against whatever parent a process has then: setpriv's (Deno and
    // Landlock layers) before the host check, which ends the start if that is no longer the
    // host; bubblewrap's late, so its sandbox runs the plugin only after the host's go, sent
    // once they are armed (GO_STEP in layers.ts). host_killer.ts kills the host 0-10 ms after
    // the plugin's start appears, 10 times, and reports what outlives it (it is a subreaper:
    // orphans become its children).
    testDeadline(120_000);
    assert.deepEqual(await killHosts(isolation, "10", "10"), { trials: 10, leaked: [] });
  });
}

for (const isolation of ["deno", "landlock"]) {
  Deno.test(`a host SIGKILLed while its plugin's start is stopped before its death signal is armed leaves nothing (${isolation})`, async () => {
    // The random kills above rarely land between the start's spawn and setpriv's arming, and a
    // write to the dead host (the exec mark's, review 168) ends most starts there anyway. Here
    // host_killer.ts stops the start in plugbox's shell as it appears, holds its stdout and stderr
    // open (no write fails for want of a reader), kills the host once it wrote the plugin's
    // program, and continues the start: its death signal is then armed against a living parent
    // (the subreaper), and only the host check (layers.ts) ends it. The plugin never serves and
    // ignores SIGTERM: left, it would run for good.
    testDeadline(120_000);
    const report = await killHosts(isolation, "6", "0", "stopped", "t9_unserved.ts") as {
      leaked: string[];
      caught: number;
    };
    assert.deepEqual(report.leaked, []);
    assert.ok(report.caught >= 1, `stopped in plugbox's shell in ${report.caught} of 6 trials`);
  });
}

Deno.test("a host SIGKILLed around its go to an OS-layer sandbox leaves nothing", async () => {
  // The kill lands 0-15 ms after the sandbox's first step (GO_STEP) appears: before, while and
  // after the host sees the reaper armed and sends the go. A go sent before the reaper waits
  // leaked in 7 of 20 such kills.
  testDeadline(120_000);
  assert.deepEqual(await killHosts("os", "10", "15", "step"), { trials: 10, leaked: [] });
});

Deno.test("a host that exits without disposing SIGKILLs its plugins on unload, even ones that ignore EOF", async () => {
  // No setpriv on PATH, so only the unload handler can take the plugin down.
  const bin = await Deno.makeTempDir();
  try {
    for (const tool of ["prlimit", "setsid", "ldd"]) {
      await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
    }
    const env = { PATH: bin, HOME: Deno.env.get("HOME")! };
    const host = await hostProgram(["deno", "2", "t9_refuses_to_die.ts", "exit"], env);
    assert.equal((await host.reap()).code, 0);
    await until(
      () => host.nonces.every((n) => processesWith(n).length === 0),
      1000,
      "the plugins to be killed",
    );
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("without setpriv (Deno layer, no util-linux), a SIGKILLed host's plugins exit on stdin EOF; one that ignores EOF survives (documented)", async () => {
  const bin = await Deno.makeTempDir();
  try {
    for (const tool of ["prlimit", "setsid", "ldd"]) {
      await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
    }
    const env = { PATH: bin, HOME: Deno.env.get("HOME")! };
    const polite = await hostProgram(["deno", "2"], env);
    polite.child.kill("SIGKILL");
    await polite.reap();
    await until(
      () => polite.nonces.every((n) => processesWith(n).length === 0),
      5000,
      "polite plugins to exit on EOF",
    );
    const stubborn = await hostProgram(["deno", "1", "t9_refuses_to_die.ts"], env);
    stubborn.child.kill("SIGKILL");
    await stubborn.reap();
    const [pid] = processesWith(stubborn.nonces[0]);
    assert.ok(pid, "the plugin that ignores EOF outlives its host without setpriv");
    Deno.kill(pid, "SIGKILL");
    await until(() => processesWith(stubborn.nonces[0]).length === 0, 5000, "the cleanup kill");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** Every path under `dir`, relative to it, sorted. */
async function treeOf(dir: string): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (folder: string) => {
    for await (const entry of Deno.readDir(folder)) {
      paths.push(relative(dir, join(folder, entry.name)));
      if (entry.isDirectory) await walk(join(folder, entry.name));
    }
  };
  await walk(dir);
  return paths.sort();
}

// The SDK's code cache seed is built once for every start, in a Deno run of its own, and
// published into <cache>/sdk-seed. A host disposed while its only start waited for that build
// resolved at once, and the build went on writing the cache: an app that removed its cache
// folder after dispose() saw it made again.
Deno.test("dispose() during the SDK's code cache build its only start waits for settles once the build is killed: nothing writes the cache after", async () => {
  await using cache = await freshCache();
  // A Deno whose `run` waits for a line on a FIFO first: the seed's build waits with it.
  await using slow = await slowRunDeno();
  const { deno, building } = slow;
  const host = new PluginHost({ handleSignals: false });
  const started = host.start("calc", fixture("calc.ts"), {
    contracts: [Calc],
    isolation: "deno",
    cacheDir: cache.path,
    deno,
  }).then(() => "started", (error) => error);
  try {
    await until(() => building().length > 0, 20_000, "the build of the SDK's code cache");
    await within(host[Symbol.asyncDispose](), 10_000, "dispose()");
    assert.ok((await started) instanceof PluginUnavailableError, String(await started));
    const written = await treeOf(cache.path);
    // A build still under way goes on now (its Deno run, then the seed published): let it.
    if (building().length > 0) await slow.release();
    await within(seedBuildsEnded(), 30_000, "the end of the seed's build");
    assert.deepEqual(await treeOf(cache.path), written, "nothing is written after dispose()");
  } finally {
    slow.stop(); // whatever failed: the build ends, so nothing waits or leaks
    await host[Symbol.asyncDispose]();
    await started;
    await seedBuildsEnded();
  }
});

// The SDK's files (<cache>/sdk) and the empty Deno dir (<cache>/deno-dir-empty, for a host whose
// SDK seed cannot be built) are made once for every start, by plain file writes no one can stop. A
// host disposed while its only start waited for them resolved at once, and the writes went on into
// the cache after dispose(). Here the test holds the claim a host takes to publish them.
async function disposeWhilePublishing(
  cache: string,
  folder: string,
  { made, published, deno }: {
    made: string;
    published: () => Promise<boolean>;
    deno?: string;
  },
): Promise<string[]> {
  const fail = (detail: string) => new Error(detail);
  let held: { release(): void } | undefined = await waitForClaim(join(folder, ".publish.claim"), {
    waitMs: 5_000,
    fail,
    busy: () => fail("the claim is held"),
  });
  const host = new PluginHost({ handleSignals: false });
  const started = host.start("calc", fixture("calc.ts"), {
    contracts: [Calc],
    isolation: "deno",
    cacheDir: cache,
    deno,
  }).then(() => "started", (error) => error);
  try {
    const waiting = async () =>
      (await Array.fromAsync(Deno.readDir(folder))).some((e) => e.name.startsWith(made));
    await until(waiting, 20_000, `a folder "${made}…" made, waiting for the claim`);
    let disposedAt: string[] | undefined;
    const disposed = host[Symbol.asyncDispose]().then(async () => disposedAt = await treeOf(cache));
    held.release();
    held = undefined;
    await within(disposed, 10_000, "dispose()");
    assert.ok((await started) instanceof PluginUnavailableError, String(await started));
    // Written by then, or else after dispose(): the last write is awaited either way.
    await until(published, 20_000, "the folder published");
    await seedBuildsEnded();
    assert.deepEqual(await treeOf(cache), disposedAt, "nothing is written after dispose()");
    return disposedAt!;
  } finally {
    held?.release();
    await host[Symbol.asyncDispose]();
    await started;
  }
}

Deno.test("dispose() while its only start waits for the SDK's files settles once they are written: nothing writes the cache after", async () => {
  await using cache = await freshCache(); // with the SDK's folder published in it
  const sdk = join(cache.path, "sdk");
  const [published] = await Array.fromAsync(Deno.readDir(sdk));
  // Damaged: the start writes the SDK's files again, then waits for the claim to publish them.
  await Deno.chmod(join(sdk, published.name), 0o755);
  await Deno.remove(join(sdk, published.name, "plugin.js"));
  await Deno.writeTextFile(join(sdk, published.name, "plugin.js"), "damaged");
  const tree = await disposeWhilePublishing(cache.path, sdk, {
    made: ".build-",
    published: () => ensureSdk(cache.path).then(() => true),
  });
  assert.ok(tree.some((path) => path.includes(".damaged-")), "the SDK was published again");
});

Deno.test("dispose() while its only start waits for the empty Deno dir settles once it is made: nothing writes the cache after", async () => {
  await using cache = await freshCache();
  const bin = await Deno.makeTempDir({ prefix: "plugbox-no-seed-" });
  try {
    // A Deno whose run of the seed's script fails: the host falls back to the empty Deno dir.
    const deno = join(bin, "deno");
    const script = `#!/bin/sh
case "$*" in *seed.js*) exit 1;; esac
exec ${Deno.execPath()} "$@"
`;
    await Deno.writeTextFile(deno, script, { mode: 0o755 });
    const empty = join(cache.path, "deno-dir-empty");
    await Deno.mkdir(empty);
    const published = async () =>
      (await Array.fromAsync(Deno.readDir(empty))).some((e) => !e.name.startsWith("."));
    await disposeWhilePublishing(cache.path, empty, { made: ".empty-", published, deno });
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
