import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import { PreflightError, previewStart } from "../../mod.ts";
import { launchPlugin } from "../../runner/host/mod.ts";
import { planPlugin } from "../../runner/sandbox/mod.ts";
import { Calc } from "../fixtures/contracts.ts";
import {
  exists,
  fixture,
  freshCache,
  graphChecksIn,
  hangingCheckPlugin,
  LAYERS,
  processesNaming,
  slowRunDeno,
  until,
  waitFor,
  within,
} from "../_helpers.ts";

const calc = fixture("calc.ts");
const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

Deno.test("previewStart() gives the exact command, argv and environment without starting anything", async () => {
  const plan = await previewStart(calc, { isolation: "deno", memoryLimitMiB: 100 });
  assert.equal(plan.name, "fixtures");
  assert.equal(plan.isolation, "deno");
  const deno = Deno.realPathSync(Deno.execPath());
  const run = plan.args.indexOf("run");
  assert.equal([plan.command, ...plan.args][run], deno);
  assert.deepEqual(plan.args.slice(run, run + 5), [
    "run",
    "--no-config",
    "--no-lock",
    "--no-remote",
    "--no-npm",
  ]);
  assert.ok(plan.args.includes("--v8-flags=--max-old-space-size=100"));
  // RLIMIT_DATA, in KiB for the prologue's `ulimit -d`: a memory cap for ArrayBuffers too.
  assert.ok(
    plan.args.indexOf(String((100 + 768) * 1024)) !== -1,
    "memory cap for ArrayBuffers too",
  );
  assert.equal(plan.args.at(-2), plan.snapshot.entry);
  assert.equal(plan.args.at(-1), `--plugbox-nonce=${plan.nonce}`);
  assert.match(plan.nonce, /^[0-9a-f]{32}$/);
  assert.equal(plan.cwd, plan.snapshot.dir);
  assert.deepEqual(Object.keys(plan.env).sort(), [
    "DENO_DIR",
    "DENO_EMIT_CACHE_MODE",
    "DENO_NO_UPDATE_CHECK",
    "DENO_WEBGPU_BACKEND",
    "HOME",
    "NO_COLOR",
    "PWD",
  ]);
  const argv = [plan.command, ...plan.args];
  // The limits are set by the prologue's ulimit (no prlimit run); the new session is the spawn's
  // (T12 checks it on the running plugin).
  assert.ok(plan.command.endsWith("/sh"), plan.command);
  assert.ok(!argv.some((a) => a.endsWith("/prlimit") || a.endsWith("/setsid")), argv.join(" "));
  assert.ok(plan.args.includes("--pdeathsig"), "dies with the host");
});

Deno.test("previewStart() under the OS layer wraps Deno in bubblewrap", async () => {
  const plan = await previewStart(calc, { isolation: "os" });
  for (const flag of ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop"]) {
    assert.ok(plan.args.includes(flag), flag);
  }
  assert.ok(!plan.args.includes("--share-net"), "no net grant, no network");
  const withNet = await previewStart(calc, {
    isolation: "os",
    permissions: { net: ["example.com:443"] },
  });
  assert.ok(!withNet.args.includes("--share-net"), "a net grant goes through the egress proxy");
  assert.deepEqual(withNet.egress?.rules, [{ host: "example.com", port: 443 }]);
  const all = await previewStart(calc, {
    isolation: "os",
    permissions: { all: true },
    unsafe: { all: true },
  });
  assert.ok(all.args.includes("--share-net"), "all keeps the host's network");
  const ro = plan.args.indexOf(plan.snapshot.dir);
  assert.equal(plan.args[ro - 1], "--ro-bind", "the snapshot is mounted read-only");
});

Deno.test("previewStart() accepts paths, file: URLs and URL objects, and nothing else", async () => {
  const byPath = await previewStart(calc.pathname);
  const byString = await previewStart(calc.href);
  assert.equal(byPath.snapshot.entry, byString.snapshot.entry);
  await assert.rejects(
    previewStart("https://example.com/plugin.ts"),
    /must be a local path or file: URL/,
  );
  await assert.rejects(previewStart("./does/not/exist.ts"), /does not exist/);
});

Deno.test("previewStart() validates its options, naming the field", async () => {
  const cases = [
    [{ name: "bad name!" }, /name "bad name!" must be/],
    [{ memoryLimitMiB: 1 }, /"memoryLimitMiB" must be an integer from 32/],
    [{ preflightTimeout: 0.5 }, /"preflightTimeout" must be an integer/],
    [{ root: new URL("../hostile/", import.meta.url) }, /is not inside root/],
  ] as const;
  for (const [options, message] of cases) {
    await assert.rejects(previewStart(calc, options), message);
  }
});

Deno.test("the graph check is cached per entry: a good entry does not vouch for its neighbour", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(join(dir, "good.ts"), "export {};\n");
    await Deno.writeTextFile(join(dir, "bad.ts"), 'import "file:///etc/hostname";\n');
    await previewStart(join(dir, "good.ts"));
    await previewStart(join(dir, "good.ts")); // cached now
    await assert.rejects(
      previewStart(pathToFileURL(join(dir, "bad.ts"))),
      (e: unknown) => e instanceof PreflightError && e.specifier === "file:///etc/hostname",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Planned from a Worker, where Deno.mainModule is undefined: the host's code cannot be located
// (the worker's own URL may be blob:, data: or a file anywhere), so no write grant is given.
const PLAN_WORKER = (mod: string, calc: string, host: string) => `
import { previewStart } from ${JSON.stringify(mod)};
const outcome = async (options) => {
  try {
    await previewStart(${JSON.stringify(calc)}, { isolation: "deno", ...options });
    return "planned";
  } catch (error) {
    return String(error);
  }
};
self.postMessage({
  plain: await outcome({}),
  writeHost: await outcome({ permissions: { write: [${JSON.stringify(host)}] } }),
  acknowledged: await outcome({
    permissions: { write: [${JSON.stringify(host)}] },
    unsafe: { writeCode: true, writeAsRoot: true },
  }),
});
self.close();
`;

Deno.test("previewStart() works from a Web Worker, and refuses write grants there: the host's code cannot be located", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const script = PLAN_WORKER(mod, calc.pathname, dir);
  try {
    for (const url of [`data:application/javascript,${encodeURIComponent(script)}`, "file"]) {
      let where = url;
      if (url === "file") {
        where = pathToFileURL(join(dir, "plan_worker.js")).href;
        await Deno.writeTextFile(join(dir, "plan_worker.js"), script);
      }
      const worker = new Worker(where, { type: "module" });
      try {
        const said = await waitFor(
          new Promise<Record<string, string>>((resolve, reject) => {
            worker.onmessage = (event) => resolve(event.data);
            worker.onerror = (event) => {
              event.preventDefault();
              reject(new Error(event.message));
            };
          }),
          "the worker's answer",
        );
        assert.equal(said.plain, "planned", url);
        assert.match(said.writeHost, /asked from a Web Worker.*pass unsafe\.writeCode/, url);
        assert.equal(said.acknowledged, "planned", url);
      } finally {
        worker.terminate();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A start's stop, as the manager gives it. */
const stopped = () => new DOMException("The plugin was stopped", "AbortError");

/** The own Deno dirs (`deno_dir.native-…`) and build folders (`.tmp-…`) left in `cache`. */
async function leftIn(cache: string): Promise<string[]> {
  const left: string[] = [];
  const list = (dir: string) => Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  for (const plugin of await list(join(cache, "plugins"))) {
    for (const entry of await list(join(cache, "plugins", plugin.name))) {
      if (entry.name.startsWith("deno_dir.native-")) left.push(`${plugin.name}/${entry.name}`);
    }
  }
  for (const entry of await list(join(cache, "snapshots"))) {
    if (entry.name.startsWith(".tmp-")) left.push(`snapshots/${entry.name}`);
  }
  return left;
}

for (const isolation of LAYERS) {
  Deno.test(`previewStart() [${isolation}] stopped during its module-graph check rejects with the signal's reason at once, and leaves no process or Deno dir`, async () => {
    await using cache = await freshCache();
    await using plugin = await hangingCheckPlugin();
    const stop = new AbortController();
    const outcome = previewStart(plugin.main, {
      isolation,
      cacheDir: cache.path,
      preflightTimeout: 600_000, // planning would end only at the check's deadline, in 10 min
      signal: stop.signal,
      // A run grant: the start gets a Deno dir of its own, which the abort must release.
      permissions: { read: [plugin.read], run: ["/bin/true"] },
      unsafe: { run: true },
      manifest: "ignore",
    }).then(() => "planned", (error) => error);
    try {
      await until(() => graphChecksIn(cache.path).length > 0, 20_000, "the module-graph check");
      assert.equal((await leftIn(cache.path)).length, 1, "the start's own Deno dir, made");
      const reason = stopped();
      stop.abort(reason);
      assert.equal(await within(outcome, 5_000, "the planning to end at the abort"), reason);
      // Anything naming the cache: the check, its wrappers, its sandbox.
      assert.deepEqual(processesNaming(cache.path), [], "nothing of the start runs");
      assert.deepEqual(await leftIn(cache.path), [], "the Deno dir was released");
    } finally {
      // Without the mitigation the check would wait for its deadline: end it, so nothing leaks.
      for (const { pid } of graphChecksIn(cache.path)) Deno.kill(pid, "SIGKILL");
      await outcome;
    }
  });
}

Deno.test("previewStart() with a signal aborted already rejects with its reason and makes nothing, not even the cache", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const reason = stopped();
    const cacheDir = join(dir, "cache");
    const error = await previewStart(calc, { cacheDir, signal: AbortSignal.abort(reason) })
      .then(() => "planned", (e) => e);
    assert.equal(error, reason);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "no cache folder made");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("previewStart() stopped while the SDK's code cache is built for every start stops waiting for it, and the build goes on for the others", async () => {
  await using cache = await freshCache();
  // A Deno whose `run` waits for a line on a FIFO first: the build of the SDK's code cache (one
  // Deno run, made once for every start) waits with it.
  await using slow = await slowRunDeno();
  const { deno, building } = slow;
  const options = { isolation: "deno" as const, cacheDir: cache.path, deno };
  const other = previewStart(calc, options).then((plan) => plan, (error) => error);
  const stop = new AbortController();
  let outcome: Promise<unknown> = Promise.resolve();
  try {
    await until(() => building().length > 0, 20_000, "the build of the SDK's code cache");
    // Another plugin, so its folder in the cache is its own: made just before the seed is awaited.
    outcome = previewStart(HELLO, { ...options, signal: stop.signal })
      .then(() => "planned", (error) => error);
    const plugins = join(cache.path, "plugins");
    const waiting = async () =>
      (await Array.fromAsync(Deno.readDir(plugins))).some((e) =>
        e.name.startsWith("hello-") && exists(join(plugins, e.name, "home"))
      );
    await until(waiting, 20_000, "the stopped start to wait for the build");
    const reason = stopped();
    stop.abort(reason);
    assert.equal(await within(outcome, 5_000, "the planning to end at the abort"), reason);
    assert.equal(building().length, 1, "the build is the other start's too: it goes on");
    await slow.release(); // and may end now
    const plan = await within(other, 30_000, "the other start's planning");
    assert.match(plan.env?.DENO_DIR ?? String(plan), /\/sdk-seed\//, "it runs in the seed built");
  } finally {
    slow.stop(); // whatever failed: the build ends, so nothing waits or leaks
    await Promise.all([outcome, other]);
  }
});

// A plan made, then its launch stopped before its spawn (a standby stopped while it waited its
// turn): what the plan holds for itself goes with it, its own Deno dir (review 48) and its
// audit's folder of its own (review 66). Since planning honours the signal, a stop during
// planning no longer reaches the launch: these tests take the launch's path directly.
const auditFolders = () =>
  [...Deno.readDirSync(tmpdir())].filter((e) => e.name.startsWith("plugbox-audit-")).length;

for (const what of ["own Deno dir", "audit folder"] as const) {
  Deno.test(`launchPlugin() stopped before its spawn releases its plan's ${what}`, async () => {
    await using cache = await freshCache();
    const before = auditFolders();
    // Its audit folder there, not the whole cache: that holds the sealing key (review 92).
    if (what === "audit folder") await Deno.mkdir(join(cache.path, "audit"));
    const plan = await planPlugin(calc, {
      isolation: "deno",
      cacheDir: cache.path,
      manifest: "ignore",
      // A run grant gives the plan a Deno dir of its own; an audit with a read grant over the
      // cache's audit folder puts its file in a folder of its own in the temporary folder.
      ...(what === "own Deno dir"
        ? { permissions: { run: ["/bin/true"] }, unsafe: { run: true } }
        : { permissions: { read: [join(cache.path, "audit")] }, audit: true }),
    });
    const held = async () =>
      what === "own Deno dir" ? (await leftIn(cache.path)).length : auditFolders() - before;
    assert.equal(await held(), 1, `the plan's ${what}, made`);
    const reason = stopped();
    const error = await launchPlugin(plan, {
      contracts: [Calc],
      signal: AbortSignal.abort(reason),
    }).then(() => "launched", (e) => e);
    assert.equal(error, reason);
    assert.equal(await held(), 0, `the plan's ${what}, released`);
  });
}
