// Command plugins: plugins/python-hello speaks the protocol in Python and is
// typed and validated by the same contract as the TypeScript hello plugin.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PluginError, previewStart, startPlugin, ValidationError } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { sharedLibraries } from "../../runner/sandbox/isolation.ts";
import { GO_STEP } from "../../runner/sandbox/layers.ts";
import { processesNaming, rejected, until, within } from "../_helpers.ts";
import { Probe } from "../hostile/plugins/probe.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON_HELLO = join(repo, "plugins/python-hello/main.py");
const HELLO = join(repo, "plugins/hello/main.ts");

for (const isolation of ["auto", "os"] as const) {
  Deno.test(`python-hello [${isolation}]: answers through the greeter contract and reads a granted file`, async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(join(dir, "hi.txt"), "good morning\nsecond line\n");
      await using plugin = await startPlugin(PYTHON_HELLO, {
        contracts: [Greeter],
        isolation,
        permissions: { read: [dir] },
      });
      assert.equal(plugin.isolation, "os");
      assert.equal(plugin.plan.kind, "command");
      const greeter = plugin.api(Greeter);
      assert.equal(await greeter.sayHello("a"), "hello, a");
      assert.equal(await greeter.readGreeting(join(dir, "hi.txt")), "good morning");
      const status = await plugin.close();
      assert.equal(status.reason, "stopped", "it exits when stdin closes");
      assert.equal(status.code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("python-hello is validated by the same contract: arguments before sending, in the plugin, and results on arrival", async () => {
  await using plugin = await startPlugin(PYTHON_HELLO, { contracts: [Greeter] });
  const greeter = plugin.api(Greeter);
  // @ts-expect-error: the contract types the argument as a string
  const local = await rejected<ValidationError>(greeter.sayHello(42));
  assert.ok(local instanceof ValidationError && local.direction === "input");
  // The raw call skips the host's check: the Python plugin checks too, with the protocol's issues.
  const remote = await rejected<{ code: number; data: { issues: { path: unknown[] }[] } }>(
    plugin.call("greeter.sayHello", [42]),
  );
  assert.equal(remote.code, -32602);
  assert.deepEqual(remote.data.issues[0].path, [0]);
  const thrown = await rejected<PluginError>(greeter.readGreeting("/no/such/file"));
  assert.ok(thrown instanceof PluginError);
  assert.equal(thrown.remoteName, "FileNotFoundError");
  await using probe = await startPlugin(
    join(repo, "tests/hostile/plugins/py_probe/main.py"),
    { contracts: [Probe] },
  );
  const wrong = await rejected<ValidationError>(probe.api(Probe).attempt("wrong-result"));
  assert.ok(wrong instanceof ValidationError && wrong.direction === "output", String(wrong));
});

Deno.test("python-hello describes itself exactly as the TypeScript hello plugin does", async () => {
  await using python = await startPlugin(PYTHON_HELLO, { contracts: [Greeter] });
  await using deno = await startPlugin(HELLO, { contracts: [Greeter] });
  assert.deepEqual(await python.describe(), await deno.describe());
  await python.ping();
});

Deno.test("plug call and plug inspect run python-hello", async () => {
  const cli = join(repo, "cli.ts");
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  };
  assert.equal(await run("call", PYTHON_HELLO, "greeter.sayHello", '"a"'), '"hello, a"\n');
  const inspected = await run("inspect", PYTHON_HELLO);
  assert.match(inspected, /graph {7}none: a command plugin \(python3 main\.py\)/);
  assert.match(inspected, /sayHello\(string\): string/);
});

Deno.test("a program in the plugin's folder runs from its snapshot, executable, with no host library mounted", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(join(dir, "bin"));
    await Deno.writeTextFile(join(dir, "bin/plugin"), "\x7fELF stand-in\n");
    await Deno.chmod(join(dir, "bin/plugin"), 0o755);
    await Deno.writeTextFile(
      join(dir, "plugbox.json"),
      JSON.stringify({ command: ["./bin/plugin", "--fast"] }),
    );
    const plan = await previewStart(join(dir, "bin/plugin"), { root: dir });
    const inside = join(plan.snapshot.dir, "bin/plugin");
    assert.deepEqual(plan.args.slice(-3, -1), [inside, "--fast"]);
    assert.equal((await Deno.stat(inside)).mode! & 0o777, 0o555, "kept executable, read-only");
    // Only what the sandbox's own first step (GO_STEP in layers.ts), a shell, loads.
    const sh = plan.args[plan.args.indexOf(GO_STEP) - 2];
    const shOwn = new Set([sh, ...(await sharedLibraries(sh))].map((p) => Deno.realPathSync(p)));
    const bound = plan.args.filter((_, i) => plan.args[i - 1] === "--ro-bind");
    const libraries = bound.filter((p) => /lib.*\.so/.test(p));
    assert.ok(libraries.length > 0, `the shell's libraries: ${bound}`);
    assert.ok(libraries.every((p) => shOwn.has(p)), `no other shared library mounted: ${bound}`);
    await Deno.chmod(join(dir, "bin/plugin"), 0o644);
    await assert.rejects(
      previewStart(join(dir, "bin/plugin"), { root: dir }),
      /is not an executable file in the plugin's folder/,
    );
    await Deno.writeTextFile(join(dir, "plugbox.json"), JSON.stringify({ command: ["../x"] }));
    await assert.rejects(
      previewStart(join(dir, "bin/plugin"), { root: dir }),
      /leaves the plugin's folder/,
    );
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a start stopped while it asks the host's Python where it lives rejects with the signal's reason at once, the probe killed", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-slow-python-" }));
  // A host "Python" that never answers (it waits for a writer of a FIFO, as itself, so its argv
  // names it): the probe would wait for its 15 s deadline.
  const python = join(dir, "python3");
  const fifo = join(dir, "never");
  assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
  await Deno.writeTextFile(python, `#!/bin/sh\nread -r x < ${fifo}\n`, { mode: 0o755 });
  const stop = new AbortController();
  const outcome = previewStart(PYTHON_HELLO, {
    command: [python, "main.py"],
    isolation: "os",
    signal: stop.signal,
  }).then(() => "planned", (error) => error);
  try {
    await until(() => processesNaming(python).length > 0, 20_000, "the Python probe");
    const reason = new DOMException("The plugin was stopped", "AbortError");
    stop.abort(reason);
    assert.equal(await within(outcome, 5_000, "the planning to end at the abort"), reason);
    assert.deepEqual(processesNaming(python), [], "the probe was killed");
  } finally {
    // Without the mitigation the probe would run to its deadline: end it, so nothing leaks.
    for (const { pid } of processesNaming(python)) Deno.kill(pid, "SIGKILL");
    await outcome;
    await Deno.remove(dir, { recursive: true });
  }
});
