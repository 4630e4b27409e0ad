// What the kernel and bubblewrap take on a start's command line, and the refusals before it.
// Before: 3,000 net grants (one `--allow-net` of more than 128 KiB) failed under the OS layer with
// "Failed to spawn '/usr/bin/sh': Argument list too long (os error 7)", 20,000 under the Deno
// layer; 3,000 path grants under the OS layer with "bwrap: Exceeded maximum number of arguments
// 9000" (2,000 took 13 s a sandbox, then timed out); and a start's net grant names were looked up
// one after another with no deadline for them all (1,100 names: 87 s here).
import assert from "node:assert/strict";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import {
  allowFlags,
  argumentBudget,
  checkCommandLine,
  checkSandboxArgs,
  MAX_MOUNTS,
  MAX_STRING_BYTES,
  pieces,
  specArgs,
} from "../../runner/sandbox/command_line.ts";
import { firstPrivateAddress, refusePrivateNets } from "../../runner/sandbox/net.ts";
import { Touch } from "../fixtures/contracts.ts";
import { fixture, freshCache, rejected, testDeadline } from "../_helpers.ts";

const toucher = fixture("toucher.ts");

/** `count` empty files in a fresh folder, with names long enough to fill a flag. */
async function manyFiles(count: number) {
  const dir = await Deno.makeTempDir({ prefix: "plugbox-command-line-" });
  const paths = Array.from({ length: count }, (_, i) => join(dir, `a-file-with-a-long-name-${i}`));
  for (const path of paths) await Deno.writeFile(path, new Uint8Array());
  return {
    dir,
    paths,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Net grants of names that resolve to nothing, `bytes` of them as a flag carries them. */
function netGrants(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `host-number-${i}.plugbox-test.example:443`);
}

Deno.test("command line: a piece never splits a surrogate pair, and the pieces join to the text", () => {
  const text = "a" + "😀".repeat(40_000);
  const parts = pieces(text, 1_001);
  assert.equal(parts.join(""), text);
  for (const part of parts) {
    assert.ok(part.length <= 1_001);
    // Each piece is well-formed UTF-16: it encodes and decodes to itself.
    assert.equal(new TextDecoder().decode(new TextEncoder().encode(part)), part);
  }
  assert.deepEqual(pieces(""), [""]);
  const spec = { list: netGrants(5_000) };
  const args = specArgs(spec);
  assert.equal(Number(args[0]), args.length - 1);
  assert.ok(args.length > 2);
  assert.deepEqual(JSON.parse(args.slice(1).join("")), spec);
  for (const arg of args) assert.ok(new TextEncoder().encode(arg).length < MAX_STRING_BYTES);
});

Deno.test("command line: a long grant list becomes several flags of one kind, each within an argument's limit, together the list", () => {
  const values = netGrants(8_000);
  const flags = allowFlags("net", values);
  assert.ok(flags.length > 2, `${flags.length} flags`);
  for (const flag of flags) {
    assert.ok(flag.startsWith("--allow-net="));
    assert.ok(flag.length < MAX_STRING_BYTES, `a flag of ${flag.length}`);
  }
  assert.deepEqual(flags.flatMap((f) => f.slice("--allow-net=".length).split(",")), values);
  assert.deepEqual(allowFlags("read", []), []);
});

Deno.test("command line: the budget is a quarter of the stack limit passed on, at most 6 MiB", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const limits = (soft: string) => {
      const path = join(dir, soft);
      Deno.writeTextFileSync(
        path,
        `Limit                     Soft Limit           Hard Limit           Units\nMax stack size            ${soft}              unlimited            bytes\n`,
      );
      return path;
    };
    assert.equal(argumentBudget(limits("8388608")), 2 * 1024 * 1024);
    assert.equal(argumentBudget(limits("16777216")), 4 * 1024 * 1024);
    assert.equal(argumentBudget(limits("unlimited")), 6 * 1024 * 1024);
    // Less than one argument's worth: the kernel passes that much anyway.
    assert.equal(argumentBudget(limits("4096")), MAX_STRING_BYTES);
    assert.equal(argumentBudget(join(dir, "missing")), 6 * 1024 * 1024);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("command line: what the kernel would refuse is refused first, naming the grants that fill it", () => {
  const grants = { net: netGrants(3), read: ["/data"] };
  checkCommandLine(["deno", "run"], { A: "b" }, { grants }, 1_000);
  const total = rejectedSync(() =>
    checkCommandLine(
      ["deno", "x".repeat(990)],
      {},
      { grants: { net: netGrants(60), read: [] } },
      1_000,
    )
  );
  assert.match(total, /come to \d+ bytes, and the kernel passes at most 1000/);
  assert.match(total, /permissions\.net lists 60 entries \(\d+ bytes\)/);
  assert.doesNotMatch(total, /permissions\.read/);
  const one = rejectedSync(() =>
    checkCommandLine(["deno"], { PLUGIN_VALUE: "v".repeat(MAX_STRING_BYTES) }, { grants })
  );
  assert.match(
    one,
    /the variable "PLUGIN_VALUE" is 131085 bytes, and the kernel passes at most 131071/,
  );
  // At the limit exactly it passes: the NUL is counted once.
  checkCommandLine(["x".repeat(MAX_STRING_BYTES - 1)], {}, { grants }, 4 * MAX_STRING_BYTES);
});

Deno.test("command line: a sandbox of more mounts or arguments than bubblewrap takes is refused, naming the mounts", () => {
  const binds = (n: number) =>
    Array.from({ length: n }, (_, i) => ["--ro-bind", `/p${i}`, `/p${i}`]).flat();
  checkSandboxArgs(binds(MAX_MOUNTS));
  assert.match(
    rejectedSync(() => checkSandboxArgs(binds(MAX_MOUNTS + 1))),
    /would mount 1025 paths, and the layer mounts at most 1024/,
  );
  const env = Array.from({ length: 2_950 }, (_, i) => ["--setenv", `V${i}`, "x"]).flat();
  assert.match(rejectedSync(() => checkSandboxArgs(env)), /takes 8850 arguments to bubblewrap/);
});

function rejectedSync(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TypeError, `${error}`);
    return error.message;
  }
  throw new assert.AssertionError({ message: "no refusal" });
}

Deno.test("command line: 6,000 path grants start under the Deno layer, every one held, nothing else", async () => {
  testDeadline(40_000);
  await using files = await manyFiles(6_000);
  await using cache = await freshCache();
  const granted = files.paths.slice(0, -1);
  const plan = await previewStart(toucher, {
    isolation: "deno",
    cacheDir: cache.path,
    permissions: { read: granted },
  });
  assert.ok(plan.args.filter((a) => a.startsWith("--allow-read=")).length > 1);
  await using plugin = await startPlugin(toucher, {
    contracts: [Touch],
    isolation: "deno",
    cacheDir: cache.path,
    permissions: { read: granted },
  });
  const [first, last, outside] = [granted[0], granted.at(-1)!, files.paths.at(-1)!];
  assert.deepEqual(
    await plugin.api(Touch).touch([["read", first], ["read", last], ["read", outside]]),
    ["ok", "ok", "NotCapable"],
  );
});

Deno.test("command line: 8,000 net grants start under the OS layer, the launcher's and the relay's specs in pieces", async () => {
  testDeadline(40_000);
  await using cache = await freshCache();
  const options = {
    isolation: "os" as const,
    cacheDir: cache.path,
    permissions: { net: netGrants(8_000) },
    // The names resolve to nothing: looking 8,000 up is not what this test is about.
    unsafe: { privateNetwork: true },
  };
  const plan = await previewStart(toucher, options);
  const launcher = plan.args.findIndex((a) => a.endsWith("/launcher.js"));
  assert.ok(Number(plan.args[launcher + 1]) > 1, "the launcher's spec in one piece");
  for (const arg of plan.args) assert.ok(new TextEncoder().encode(arg).length < MAX_STRING_BYTES);
  await using plugin = await startPlugin(toucher, { ...options, contracts: [Touch] });
  assert.deepEqual(await plugin.api(Touch).touch([["env", "HOME"]]), ["NotCapable"]);
});

Deno.test("command line: more grants than the kernel passes are refused before any spawn, naming them", async () => {
  testDeadline(30_000);
  await using cache = await freshCache();
  const error = await rejected<TypeError>(startPlugin(toucher, {
    contracts: [Touch],
    isolation: "deno",
    cacheDir: cache.path,
    permissions: { net: netGrants(70_000) },
    unsafe: { privateNetwork: true },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /^Cannot start plugin: its command line and environment come to \d+ bytes/,
  );
  assert.match(error.message, /permissions\.net lists 70000 entries/);
  const variable = await rejected<TypeError>(startPlugin(toucher, {
    contracts: [Touch],
    isolation: "deno",
    cacheDir: cache.path,
    permissions: { env: { PLUGBOX_TEST_LONG_VALUE: "v".repeat(200_000) } },
  }));
  assert.match(variable.message, /the variable "PLUGBOX_TEST_LONG_VALUE" is 200024 bytes/);
});

Deno.test("command line: more path grants than the OS layer mounts are refused before bubblewrap, naming the mounts", async () => {
  testDeadline(30_000);
  await using files = await manyFiles(MAX_MOUNTS + 10);
  await using cache = await freshCache();
  const error = await rejected<TypeError>(startPlugin(toucher, {
    contracts: [Touch],
    isolation: "os",
    cacheDir: cache.path,
    permissions: { read: files.paths },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /^Cannot start plugin under the OS layer: its sandbox would mount \d+ paths/,
  );
});

Deno.test("net names: each looked up once, the first private in the grants' order refused, none judged past the deadline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hosts = join(dir, "hosts");
    Deno.writeTextFileSync(hosts, "10.1.2.3 inside.test other.test\n93.184.215.14 outside.test\n");
    const local = { hostsFiles: [hosts], system: false };
    assert.deepEqual(
      await firstPrivateAddress(["outside.test:443", "other.test:80", "inside.test:443"], local),
      { found: { entry: "other.test:80", address: "10.1.2.3" }, unchecked: [] },
    );
    assert.deepEqual(await firstPrivateAddress(["outside.test:443", "1.2.3.4:80"], local), {
      unchecked: [],
    });
    // Not looked up in time is not judged: every name left is refused.
    const names = [
      "a.plugbox-test.example:1",
      "b.plugbox-test.example:1",
      "a.plugbox-test.example:2",
    ];
    const late = await firstPrivateAddress(names, { hostsFiles: [hosts], totalMs: 0 });
    assert.deepEqual(late.unchecked, names.slice(0, 2));
    await assert.rejects(
      refusePrivateNets(names, { hostsFiles: [hosts], totalMs: 0 }),
      /^TypeError: Cannot grant net "a\.plugbox-test\.example:1" and 1 more: this machine's resolver did not get to their names within 0 ms \(3 net grants;/,
    );
    await assert.rejects(
      refusePrivateNets(["outside.test:1", "inside.test:1"], local),
      /Cannot grant net "inside\.test:1": this machine resolves it to 10\.1\.2\.3/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
