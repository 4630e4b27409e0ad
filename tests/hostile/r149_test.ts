// Review 149: what a user gets who installs plugbox from JSR and follows the README, and the `plug`
// CLI as a tool pointed at a folder its user does not trust. Each test failed on the code (or the
// README) it was written against (ff87ccb).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalRegistry } from "../_registry.ts";
import { testDeadline } from "../_helpers.ts";
import { main } from "../../cli.ts";
import { parseArgs, UsageError } from "../../runner/cli/mod.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const README = Deno.readTextFileSync(join(repo, "README.md"));

/** Each command the README gives for `plug` from JSR (one, unless a mention drifted). */
function readmePlugs(): string[] {
  const found = new Set<string>();
  for (const m of README.matchAll(/`(deno run [^`<]*?jsr:@plugbox\/plugbox\/cli)[` ]/g)) {
    found.add(m[1]);
  }
  assert.ok(/needs no install: `deno run [^`]*jsr:@plugbox\/plugbox\/cli <command>`/.test(README));
  assert.ok(found.size > 0, "the README gives the plug command");
  return [...found];
}

async function sh(script: string, cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

const PLUGIN = `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
const E = defineContract({ name: "e", version: 1, methods: {
  echo: z.function({ input: [z.string()], output: z.string() }),
} });
await serve(implement(E, { echo: (s) => s }));
`;

/** Code a folder slips in: it leaves a mark where the test looks, then looks like zod. */
function payload(mark: string): string {
  return `Deno.writeTextFileSync(${JSON.stringify(mark)}, import.meta.url);
export class ZodError extends Error {}
export const z = new Proxy(function () {}, { get: () => z, apply: () => z });
export default z;
`;
}

// The README said `deno run -A jsr:@plugbox/plugbox/cli`. Deno reads the deno.json (or
// package.json) of the folder it runs in, and of every folder above, before any of plugbox runs:
// run from inside a plugin's folder, one that mapped npm:zod (or plugbox's cli itself) to its own
// file, or gave zod from its node_modules, ran that file with -A. plugbox's preflight refused the
// folder afterwards ("a config file Deno or npm would obey"), after the code had run.
Deno.test("r149 [jsr]: the README's plug command, run inside a hostile plugin folder, runs none of the folder's code", async () => {
  testDeadline(240_000);
  await using registry = await LocalRegistry.start();
  const zod =
    JSON.parse(Deno.readTextFileSync(join(repo, "deno.lock"))).specifiers["npm:zod@^4.1.0"];
  await registry.addNpmFromCache("zod", zod);
  await registry.publishRepo();
  const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r149-jsr-" }));
  try {
    await Deno.mkdir(join(work, "home"));
    const env = { ...registry.env(join(work, ".deno")), HOME: join(work, "home") };
    const mark = join(work, "ran");

    // A: an import map in the plugin's folder; plug run in it, and in a folder below it.
    const mapped = join(work, "mapped");
    await Deno.mkdir(join(mapped, "sub"), { recursive: true });
    await Deno.writeTextFile(join(mapped, "main.ts"), PLUGIN);
    await Deno.writeTextFile(join(mapped, "pwn.js"), payload(mark));
    await Deno.writeTextFile(
      join(mapped, "deno.json"),
      JSON.stringify({
        imports: { "npm:zod@^4.1.0": "./pwn.js", "jsr:@plugbox/plugbox/cli": "./pwn.js" },
      }),
    );
    // B: zod in the folder's node_modules, named by its package.json.
    const modules = join(work, "modules");
    await Deno.mkdir(join(modules, "node_modules/zod"), { recursive: true });
    await Deno.writeTextFile(join(modules, "main.ts"), PLUGIN);
    await Deno.writeTextFile(
      join(modules, "package.json"),
      JSON.stringify({ dependencies: { zod: "^4.1.0" } }),
    );
    await Deno.writeTextFile(
      join(modules, "node_modules/zod/package.json"),
      JSON.stringify({ name: "zod", version: zod, type: "module", main: "index.js" }),
    );
    await Deno.writeTextFile(join(modules, "node_modules/zod/index.js"), payload(mark));

    for (const plug of readmePlugs()) {
      for (
        const [cwd, module, refused] of [
          [mapped, "main.ts", "deno.json"],
          [join(mapped, "sub"), "../main.ts", "deno.json"],
          [modules, "main.ts", "node_modules"],
        ]
      ) {
        const run = await sh(`${plug} check ${module}`, cwd, env);
        const ran = await Deno.readTextFile(mark).catch(() => undefined);
        assert.equal(ran, undefined, `${plug}: the folder's code ran, from ${cwd}: ${ran}`);
        // plugbox itself ran, and refused the folder for what it holds.
        assert.equal(run.code, 7, run.stdout + run.stderr);
        assert.match(run.stdout, new RegExp(`${refused}" is a config file Deno or npm would obey`));
      }
    }
    // Nor did the run write a lock of Deno's into the folder (it did, beside a package.json).
    assert.deepEqual(
      [...Deno.readDirSync(modules)].map((e) => e.name).sort(),
      ["main.ts", "node_modules", "package.json"],
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

// Taken silently: `plug check --timeout=1` checked with no deadline, `plug inspect
// --manifest=refuse` reviewed with the manifest ignored, `plug approve --lock
// --lock-policy=refuse` approved under no policy at all, `plug suggest --allow-read=/` suggested
// from the reports alone, and `plug call --json` printed what it always prints. The README says an
// option is refused where it would do nothing it says.
Deno.test("r149: an option a command does not read is a usage error naming it", async () => {
  const HELLO = join(repo, "plugins/hello/main.ts");
  const refused: [string[], string][] = [
    [["check", HELLO, "--timeout=1"], "--timeout"],
    [["check", HELLO, "--audit"], "--audit"],
    [["inspect", HELLO, "--manifest=refuse"], "--manifest"],
    [["inspect", HELLO, "--audit"], "--audit"],
    [["approve", HELLO, "--lock", "--lock-policy=refuse"], "--lock-policy"],
    [["approve", HELLO, "--timeout=5"], "--timeout"],
    [["suggest", "a.json", "--allow-read=/"], "--allow-read"],
    [["suggest", "a.json", "-A"], "-A"],
    [["suggest", "a.json", "--unsafe-all"], "--unsafe-all"],
    [["suggest", "a.json", "--isolation=os"], "--isolation"],
    [["call", HELLO, "greeter.sayHello", '"a"', "--json"], "--json"],
  ];
  for (const [args, flag] of refused) {
    assert.throws(
      () => parseArgs(args),
      (e) => e instanceof UsageError && e.message.startsWith(`${flag} does nothing in plug`),
      args.join(" "),
    );
  }
  // What each command does read still parses, --verbose and --help on any of them.
  const taken: string[][] = [
    ["call", HELLO, "g.m", "--timeout=5", "--audit", "--lock", "--lock-policy=refuse", "-A"],
    ["audit", HELLO, "g.m", "--json", "--timeout=5", "--manifest=narrow", "--memory=64"],
    ["inspect", HELLO, "--json", "--timeout=5", "--allow-read=/tmp", "--lock", "--deno=/d"],
    ["check", HELLO, "--json", "--manifest=ignore", "--unsafe-run", "--isolation=deno"],
    ["approve", HELLO, "--json", "--dry-run", "--lock=x", "--allow-env=A_B", "--manifest=narrow"],
    ["suggest", "a.json", "--json", "--verbose"],
    ["suggest", "a.json", "--timeout=5", "--help"],
  ];
  for (const args of taken) assert.doesNotThrow(() => parseArgs(args), args.join(" "));
  // From the shell: exit code 2, one line, nothing on stdout.
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["check", HELLO, "--timeout=1"], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  assert.equal(code, 2);
  assert.deepEqual(out, []);
  assert.deepEqual(err, [
    "UsageError: --timeout does nothing in plug check; see plug check --help",
  ]);
});

/** `plug <args>` in this process: its exit code and the lines it wrote. */
async function plug(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

// A plugin's name is its folder's unless the "name" option gives another, and a folder named
// "my plugin" (a space), "plugin@2" or "café" is no name: the message said to pass "name", which
// the CLI had no way to do, so plug could not call, inspect, check or approve such a folder at all.
Deno.test("r149: plug --name names a plugin whose folder's name is no name, in every command that plans it", async () => {
  const work = await Deno.makeTempDir({ prefix: "plugbox-r149-name-" });
  try {
    const dir = join(work, "my plugin");
    await Deno.mkdir(dir);
    for (const file of ["main.ts", "contract.ts"]) {
      await Deno.copyFile(join(repo, "plugins/hello", file), join(dir, file));
    }
    const module = join(dir, "main.ts");
    const refused = await plug(["check", module, "--isolation=deno"]);
    assert.equal(refused.code, 2, refused.out.join("\n"));
    assert.match(refused.out.join("\n"), /its folder's name; .*plug's --name=NAME/);

    const call = await plug([
      "call",
      module,
      "greeter.sayHello",
      '"a"',
      "--name=mine",
      "--isolation=deno",
    ]);
    assert.equal(call.code, 0, call.err.join("\n"));
    assert.deepEqual(call.out, ['"hello, a"']);
    const inspect = await plug(["inspect", module, "--name=mine", "--isolation=deno", "--json"]);
    assert.equal(inspect.code, 0, inspect.err.join("\n"));
    assert.equal(JSON.parse(inspect.out.join("\n")).name, "mine");
    const lock = join(work, "plugbox.lock");
    const approve = await plug([
      "approve",
      module,
      "--name=mine",
      `--lock=${lock}`,
      "--isolation=deno",
    ]);
    assert.equal(approve.code, 0, approve.err.join("\n"));
    assert.match(approve.out[0], /^approved "mine" in /);
    const locked = await plug([
      "call",
      module,
      "greeter.sayHello",
      '"b"',
      "--name=mine",
      `--lock=${lock}`,
      "--lock-policy=refuse",
      "--isolation=deno",
    ]);
    assert.equal(locked.code, 0, locked.err.join("\n"));
    assert.deepEqual(locked.out, ['"hello, b"']);
    // The name given is held to the rule a folder's is, and said to be the one given.
    const bad = await plug(["check", module, "--name=no name", "--isolation=deno"]);
    assert.equal(bad.code, 2);
    assert.match(bad.out.join("\n"), /name "no name" must be ASCII letters/);
    assert.throws(() => parseArgs(["check", module, "--name="]), /--name needs the plugin's name/);
    assert.throws(() => parseArgs(["check", module, "--name=a", "--name=b"]), /given twice/);
    assert.throws(
      () => parseArgs(["suggest", "a.json", "--name=a"]),
      /does nothing in plug suggest/,
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

// The README: "In this repository `deno task plug`", and call "starts the plugin with the grants
// given". A net grant under the OS layer needs the egress proxy, which needs --allow-net in the
// process that runs plug; the task had none, so every call with --allow-net failed, NotCapable,
// exit code 1.
/** `deno task plug <args>` in this repository. */
async function plugTask(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "plug", ...args],
    cwd: repo,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("r149: deno task plug calls a plugin granted a host", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("pong from the test"),
  );
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const fetcher = ["call", "plugins/fetcher/main.ts", "fetcher.fetchText"];
    const local = await plugTask([
      ...fetcher,
      JSON.stringify(`http://${host}/`),
      `--allow-net=${host}`,
      "--unsafe-private-network",
    ]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(JSON.parse(local.stdout).body, "pong from the test");
    // Without the acknowledgement the proxy reads the host's own addresses, to refuse them
    // (--allow-sys=networkInterfaces); a name that never resolves is refused by the proxy, and
    // the plugin answers with that.
    const named = await plugTask([
      ...fetcher,
      '"http://plugbox-r149.invalid/"',
      "--allow-net=plugbox-r149.invalid:80",
    ]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(JSON.parse(named.stdout).body, /^plugbox refused this connection: cannot resolve/);
  } finally {
    await server.shutdown();
  }
});

// A usage error for an option a command does not read says to see the command's help; the help
// listed every option for every command that plans (--manifest for inspect, --lock-policy and a
// second --lock for approve), so it offered what the command then refused.
Deno.test("r149: each command's help lists only options the command takes", async () => {
  const sample: Record<string, string> = {
    "--allow-read": "--allow-read=/tmp",
    "--allow-write": "--allow-write=/tmp",
    "--allow-net": "--allow-net=a.example:1",
    "--allow-env": "--allow-env=A_B",
    "--allow-sys": "--allow-sys=hostname",
    "--allow-run": "--allow-run=/bin/true",
    "--allow-ffi": "--allow-ffi=/x.so",
    "--isolation": "--isolation=deno",
    "--memory": "--memory=64",
    "--manifest": "--manifest=ignore",
    "--deno": "--deno=/d",
    "--name": "--name=n",
    "--lock-policy": "--lock-policy=refuse",
    "--timeout": "--timeout=5",
    "--expect": `--expect=${"a".repeat(64)}`,
  };
  for (const command of ["call", "inspect", "check", "audit", "approve", "suggest"]) {
    const { code, out } = await plug([command, "--help"]);
    assert.equal(code, 0);
    const listed = new Set(
      out.filter((line) => /^ {2}--/.test(line)).flatMap((line) =>
        [...line.matchAll(/(?:^| )(--[a-z-]+)/g)].map((m) => m[1])
      ),
    );
    assert.ok(listed.size > 0 || command === "suggest", command);
    const positional = command === "call" || command === "audit" ? ["m.ts", "c.m"] : ["m.ts"];
    for (const flag of listed) {
      const args = [command, ...positional, sample[flag] ?? flag];
      if (flag === "--lock-policy") args.push("--lock");
      assert.doesNotThrow(() => parseArgs(args), `${command} --help lists ${flag}`);
    }
  }
});
