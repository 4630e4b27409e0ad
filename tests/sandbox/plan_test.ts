import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PreflightError, previewStart } from "../../mod.ts";
import { fixture, waitFor } from "../_helpers.ts";

const calc = fixture("calc.ts");

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
