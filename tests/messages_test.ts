// Each friction a new user met (issue 13): the message names the user's own
// file, the wrong key or field, and the fix. One test per message, asserting
// the words that matter.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  IsolationUnavailableError,
  PluginExitedError,
  PreflightError,
  previewStart,
  startPlugin,
  TimeoutError,
} from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { chooseDeno } from "../runner/sandbox/deno_binary.ts";
import { fixture, rejected } from "./_helpers.ts";
import { pluginFolder } from "./hostile/_hostile.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));
const CLI = join(repo, "cli.ts");
const HELLO = join(repo, "plugins/hello/main.ts");
const PYTHON_HELLO = join(repo, "plugins/python-hello/main.py");
const SNAPSHOTS = /plugbox\/snapshots\//;

async function run(args: string[], cwd = repo) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function plug(args: string[], cwd = repo) {
  return run(["run", "-A", "--config", join(repo, "deno.json"), CLI, ...args], cwd);
}

Deno.test("a host without --allow-read is told which permission plugbox needs, not that the module does not exist", async () => {
  const host = fileURLToPath(fixture("start_hello.ts"));
  const flags = ["--allow-write", "--allow-env", "--allow-run"];
  const out = await run(["run", "--config", join(repo, "deno.json"), ...flags, host, HELLO]);
  assert.match(out.stdout, /^NotCapable: Cannot start plugin: the host process lacks a permission/);
  assert.match(out.stdout, /--allow-read/);
  assert.ok(out.stdout.includes(HELLO), out.stdout);
  assert.doesNotMatch(out.stdout, /does not exist/);
});

Deno.test("a host without --allow-run is told so, and never quietly planned under a weaker layer", async () => {
  const host = fileURLToPath(fixture("preview_hello.ts"));
  const flags = ["--allow-read", "--allow-write", "--allow-env"];
  const out = await run(["run", "--config", join(repo, "deno.json"), ...flags, host, HELLO]);
  assert.match(out.stdout, /^NotCapable: Cannot start plugin: the host process lacks a permission/);
  assert.match(out.stdout, /Requires run access/);
  assert.doesNotMatch(out.stdout, /isolation/);
});

Deno.test("an import outside the plugin's folder is named from the user's file, not plugbox's cache", async () => {
  await using base = await pluginFolder({});
  await Deno.mkdir(join(base.dir, "greeter"));
  await Deno.mkdir(join(base.dir, "shared"));
  await Deno.writeTextFile(join(base.dir, "shared/util.ts"), "export const u = 1;\n");
  await Deno.writeTextFile(
    join(base.dir, "greeter/main.ts"),
    'import { u } from "../shared/util.ts";\nconsole.log(u);\n',
  );
  const error = await rejected<PreflightError>(previewStart(join(base.dir, "greeter/main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.ok(error.message.includes(`"${join(base.dir, "shared/util.ts")}"`), error.message);
  assert.ok(error.message.includes(`in "${join(base.dir, "greeter/main.ts")}"`), error.message);
  assert.doesNotMatch(error.message, SNAPSHOTS);
});

Deno.test("a syntax error is reported at the user's file and line", async () => {
  await using folder = await pluginFolder({ "main.ts": 'import "./helper.ts";\n' });
  await Deno.writeTextFile(join(folder.dir, "helper.ts"), "const ok = 1;\nconst x = ;\n");
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.match(error.message, /SyntaxError/);
  assert.ok(error.message.includes(`${join(folder.dir, "helper.ts")}:2:`), error.message);
  assert.doesNotMatch(error.message, SNAPSHOTS);
});

Deno.test("a runtime error's stack names the user's file, not the snapshot", async () => {
  await using folder = await pluginFolder({
    "main.ts": 'function boot() {\n  throw new Error("boom");\n}\nboot();\n',
  });
  const error = await rejected<PluginExitedError>(
    startPlugin(join(folder.dir, "main.ts"), { contracts: [Greeter] }),
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.ok(error.stderrTail.includes(`${join(folder.dir, "main.ts")}:2:`), error.stderrTail);
  assert.doesNotMatch(error.stderrTail, SNAPSHOTS);
});

Deno.test("a typo'd manifest key is named, with the key it likely meant, in the user's plugbox.json", async () => {
  await using folder = await pluginFolder({
    "main.ts": "",
    "plugbox.json": JSON.stringify({ permission: { read: [] } }),
  });
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.ok(error.message.includes(`"${join(folder.dir, "plugbox.json")}"`), error.message);
  assert.match(error.message, /unknown key "permission" \(did you mean "permissions"\?\)/);
  assert.doesNotMatch(error.message, /expected object, received undefined/);
  assert.doesNotMatch(error.message, SNAPSHOTS);
  await Deno.writeTextFile(
    join(folder.dir, "plugbox.json"),
    JSON.stringify({ permissions: { raed: [] } }),
  );
  const kind = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.match(kind.message, /unknown key "raed" in "permissions" \(did you mean "read"\?\)/);
  await Deno.writeTextFile(
    join(folder.dir, "plugbox.json"),
    JSON.stringify({ permissions: { read: [{ value: "*" }] } }),
  );
  const missing = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.match(missing.message, /is missing "permissions\.read\[0\]\.reason"/);
});

Deno.test("a plugin that forgets serve() and exits is asked whether it calls serve()", async () => {
  await using folder = await pluginFolder({ "main.ts": 'console.error("loaded");\n' });
  const error = await rejected<PluginExitedError>(
    startPlugin(join(folder.dir, "main.ts"), { contracts: [Greeter] }),
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.exitCode, 0);
  assert.match(
    error.message,
    /ended before answering the handshake: does its main module call serve\(/,
  );
});

Deno.test("a plugin that forgets serve() and stays up times out with the same question", async () => {
  await using folder = await pluginFolder({ "main.ts": "setInterval(() => {}, 1000);\n" });
  const error = await rejected<TimeoutError>(
    startPlugin(join(folder.dir, "main.ts"), { contracts: [Greeter], startTimeout: 1500 }),
  );
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(error.message, /no answer to the handshake: does its main module call serve\(/);
  assert.match(
    error.message,
    /or, if it does, the machine was too busy .* a larger startTimeout helps/,
  );
});

Deno.test("plug shows why a plugin died without --verbose: its stderr tail", async () => {
  const out = await plug(["call", fileURLToPath(fixture("crash_on_start.ts")), "x.y"]);
  assert.equal(out.code, 6, out.stderr);
  assert.match(out.stderr, /^PluginExitedError: /);
  assert.match(out.stderr, /--- the plugin's stderr ---\n/);
  assert.match(out.stderr, /boom at start/);
});

Deno.test("plug says to pass an absolute path when a relative argument is denied inside a granted folder", async () => {
  await using work = await pluginFolder({});
  await Deno.mkdir(join(work.dir, "data"));
  await Deno.writeTextFile(join(work.dir, "data/hi.txt"), "hi\n");
  const args = ["call", HELLO, "greeter.readGreeting", '"data/hi.txt"', "--allow-read=./data"];
  const out = await plug([...args, "--manifest=ignore"], work.dir);
  assert.equal(out.code, 4, out.stderr);
  assert.ok(
    out.stderr.includes(`hint: argument 1 "data/hi.txt" is a relative path`),
    out.stderr,
  );
  assert.ok(out.stderr.includes(`Pass the absolute path: "${work.dir}/data/hi.txt"`), out.stderr);
});

Deno.test("an npm import is refused with the one-line command that vendors it", async () => {
  await using folder = await pluginFolder({
    "main.ts": 'import leftPad from "npm:left-pad@1.3.0";\nconsole.log(leftPad);\n',
  });
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.match(
    error.message,
    /vendor it into the plugin's folder: deno bundle --platform=deno --output=vendor\/left-pad\.js npm:left-pad@1\.3\.0/,
  );
  assert.match(error.message, /then import "\.\/vendor\/left-pad\.js"/);
  await Deno.writeTextFile(join(folder.dir, "main.ts"), 'import { z } from "npm:zod@^4.2";\n');
  const zod = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.match(zod.message, /import zod as "zod" \(plugbox maps it/);
});

Deno.test("a compiled host without deno on PATH is told how to name the Deno binary", () => {
  assert.throws(
    () => chooseDeno({ execPath: "/opt/app/host", standalone: true, path: "/nowhere" }),
    (error: Error) =>
      error instanceof TypeError && /deno compile'd binary, not Deno/.test(error.message) &&
      /"deno" option, the PLUGBOX_DENO variable, or plug --deno=PATH/.test(error.message),
  );
});

Deno.test("a Deno binary that is not Deno, or not there, is refused naming where it came from", async () => {
  const missing = await rejected<TypeError>(previewStart(HELLO, { deno: "/nonexistent/deno" }));
  assert.ok(missing instanceof TypeError, String(missing));
  assert.match(missing.message, /"\/nonexistent\/deno" \(from the "deno" option\)/);
  const notDeno = await rejected<TypeError>(previewStart(HELLO, { deno: "/bin/true" }));
  assert.match(notDeno.message, /did not answer --version as Deno does/);
  const out = await plug(["check", HELLO, "--deno=relative/deno"]);
  assert.match(out.stdout + out.stderr, /must be an absolute path/);
});

Deno.test('isolation "deno" or "landlock" for a command plugin is refused, saying why', async () => {
  for (const isolation of ["deno", "landlock"] as const) {
    const error = await rejected<IsolationUnavailableError>(
      previewStart(PYTHON_HELLO, { isolation }),
    );
    assert.ok(error instanceof IsolationUnavailableError, String(error));
    assert.match(error.message, /runs a command \("python3 main\.py"\), not a Deno module/);
    assert.match(error.message, /only under bubblewrap \(isolation "os" or "auto"\)/);
  }
});

Deno.test("a sys grant to a command plugin is refused, saying why; a net grant goes through the egress proxy", async () => {
  const error = await rejected<TypeError>(
    previewStart(PYTHON_HELLO, { permissions: { sys: ["hostname"] }, manifest: "ignore" }),
  );
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /cannot be granted sys "hostname": its view of the system is the OS layer's/,
  );
  const plan = await previewStart(PYTHON_HELLO, {
    permissions: { net: ["example.com:443"] },
    manifest: "ignore",
  });
  assert.deepEqual(plan.egress?.rules, [{ host: "example.com", port: 443 }]);
  assert.equal(plan.env.https_proxy, plan.env.HTTPS_PROXY);
});

Deno.test("a command plugin's program that is missing or a script is named", async () => {
  const root = dirname(PYTHON_HELLO);
  const missing = await rejected<TypeError>(
    previewStart(PYTHON_HELLO, { command: ["no-such-interpreter-x", "main.py"], root }),
  );
  assert.match(missing.message, /program "no-such-interpreter-x" was not found on the host's PATH/);
  await using folder = await pluginFolder({
    "main.sh": "#!/bin/sh\n",
    "plugbox.json": JSON.stringify({ command: ["/usr/bin/python3", "main.sh"] }),
  });
  const absolute = await rejected<TypeError>(previewStart(join(folder.dir, "main.sh")));
  assert.match(absolute.message, /plugbox\.json names its program by an absolute path/);
});
