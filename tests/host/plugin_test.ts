import assert from "node:assert/strict";
import {
  PermissionDeniedError,
  PluginError,
  PluginExitedError,
  ProtocolError,
  startPlugin,
  TimeoutError,
  ValidationError,
} from "../../mod.ts";
import { defineContract } from "../../contract.ts";
import { z } from "zod";
import { Calc, Text } from "../fixtures/contracts.ts";
import { fixture, rejected, within } from "../_helpers.ts";
import { Greeter } from "../../plugins/hello/contract.ts";

Deno.test("startPlugin() gives a typed round trip to the hello plugin", async () => {
  await using plugin = await startPlugin(new URL("../../plugins/hello/main.ts", import.meta.url), {
    contracts: [Greeter],
  });
  const greeter = plugin.api(Greeter);
  const reply: string = await greeter.sayHello("a");
  assert.equal(reply, "hello, a");
  assert.deepEqual(plugin.served, [{
    name: "greeter",
    version: 1,
    methods: ["sayHello", "readGreeting"],
  }]);
});

Deno.test("a plugin serves without Deno's streams code: stdin read directly, stdout written with blocking writes", async () => {
  // no_streams.ts throws if the SDK names ReadableStream or WritableStream, or reads
  // Deno.stdin.readable (each makes Deno load its streams code, about 5 ms of a start).
  await using plugin = await startPlugin(fixture("no_streams.ts"), { contracts: [Text] });
  const text = plugin.api(Text);
  assert.equal(await text.upper("a"), "A");
  // Lines longer than one read of stdin (64 KiB) and several in one read arrive whole.
  const long = "é".repeat(100_000);
  assert.equal(await text.upper(long), long.toUpperCase());
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => text.upper(`n${i}`)));
  assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => `N${i}`));
});

Deno.test("startPlugin() serves two contracts from one process", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc, Text] });
  assert.equal(await plugin.api(Calc).add(2, 3), 5);
  assert.equal(await plugin.api(Text).upper("abc"), "ABC");
  assert.equal(await plugin.api(Calc).greet({ name: "b" }), "hello, b");
  assert.equal(await plugin.api(Calc).greet({ name: "b" }, "hi"), "hi, b");
  assert.equal(await plugin.api(Calc).nothing(), undefined);
  assert.deepEqual(await plugin.api(Calc).echo({ deep: [1, "x", null] }), { deep: [1, "x", null] });
});

Deno.test("console output in a plugin goes to stderr, never onto the protocol channel", async () => {
  const lines: string[] = [];
  const faults: string[] = [];
  const plugin = await startPlugin(fixture("calc.ts"), {
    contracts: [Calc],
    onLog: (entry) => lines.push(entry.message),
    onProtocolFault: (detail) => faults.push(detail),
  });
  assert.equal(await plugin.api(Calc).log("x"), "x");
  const status = await plugin.close();
  assert.equal(status.code, 0, "the plugin exits by itself when stdin closes");
  assert.equal(status.reason, "stopped");
  assert.deepEqual(lines, ["calc: starting", "log: x", "info: x"]);
  assert.deepEqual(faults, []);
});

Deno.test("api() refuses a contract that was not asked for at start", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  assert.throws(
    () => plugin.api(Text),
    (e: unknown) => e instanceof TypeError && /"text"/.test(e.message),
  );
});

Deno.test("the host rejects bad arguments with ValidationError before sending", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const calc = plugin.api(Calc);
  // @ts-expect-error: a string where the contract says number
  const error = await calc.add(1, "2").catch((e) => e);
  assert.ok(error instanceof ValidationError);
  assert.equal(error.direction, "input");
  assert.deepEqual(error.path, [1]);
  assert.match(error.message, /Invalid argument of "calc\.add" at \[1\]/);
  const nested = await calc.greet({ name: "" }).catch((e) => e);
  assert.ok(nested instanceof ValidationError);
  assert.deepEqual(nested.path, [0, "name"]);
});

Deno.test("the plugin's invalid-params answer arrives as its claim, never as a ValidationError", async () => {
  // The drifted plugin's contract says add(string, string): the host's numbers fail there.
  await using plugin = await startPlugin(fixture("drifted.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc).add(1, 2).catch((e) => e);
  assert.ok(error instanceof PluginError && !(error instanceof ValidationError), String(error));
  assert.equal(error.reportedBy, "plugin");
  assert.equal(error.code, -32602);
  assert.deepEqual(error.issues[0].path, [0]);
  assert.match(
    error.message,
    /^Plugin "fixtures" reports "calc\.add" failed: .*invalid arguments at \[0\]/,
  );
});

Deno.test("the host validates results: a lying plugin gets ValidationError", async () => {
  // The drifted plugin's wrongResult promises unknown and returns 42; the host wants a string.
  await using plugin = await startPlugin(fixture("drifted.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc).wrongResult().catch((e) => e);
  assert.ok(error instanceof ValidationError, String(error));
  assert.equal(error.direction, "output");
  assert.equal(error.contract, "calc");
  assert.equal(error.method, "wrongResult");
  assert.deepEqual(error.path, []);
});

Deno.test("the plugin checks its own results against the contract before answering", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc).wrongResult().catch((e) => e);
  // The plugin's SDK caught it (-32002): had it sent the bad value, the host's own check
  // would have answered with a ValidationError instead.
  assert.ok(error instanceof PluginError && !(error instanceof ValidationError), String(error));
  assert.equal(error.code, -32002);
  assert.match(error.message, /an invalid result at \(root\): .*expected string/);
});

Deno.test("an error thrown in the plugin arrives as PluginError with its name and message", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc).divide(1, 0).catch((e) => e);
  assert.ok(error instanceof PluginError);
  assert.equal(error.remoteName, "RangeError");
  assert.equal(error.method, "calc.divide");
  assert.equal(error.code, -32000);
  assert.match(error.message, /division by zero/);
  // The plugin is still usable afterwards.
  assert.equal(await plugin.api(Calc).divide(6, 3), 2);
});

Deno.test("a denied read surfaces as PermissionDeniedError naming the permission and target", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc).readFile("/etc/hostname").catch((e) => e);
  assert.ok(error instanceof PermissionDeniedError, String(error));
  assert.equal(error.permission, "read");
  assert.equal(error.target, "/etc/hostname");
  assert.equal(error.method, "calc.readFile");
});

Deno.test("a granted read works and its neighbour stays denied", async () => {
  const dir = await Deno.makeTempDir();
  const other = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ok.txt`, "granted");
    await Deno.writeTextFile(`${other}/no.txt`, "secret");
    await using plugin = await startPlugin(fixture("calc.ts"), {
      contracts: [Calc],
      permissions: { read: [dir] },
    });
    assert.equal(await plugin.api(Calc).readFile(`${dir}/ok.txt`), "granted");
    await assert.rejects(plugin.api(Calc).readFile(`${other}/no.txt`), PermissionDeniedError);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("startPlugin() rejects with ProtocolError on a protocol version mismatch, stating both sides", async () => {
  const error = await startPlugin(fixture("bad_version.ts"), { contracts: [Calc] }).catch((e) => e);
  assert.ok(error instanceof ProtocolError, String(error));
  assert.match(error.message, /host speaks 1, plugin speaks 99/);
});

Deno.test("startPlugin() rejects with ProtocolError on a nonce mismatch, stating both sides", async () => {
  const error = await startPlugin(fixture("bad_nonce.ts"), { contracts: [Calc] }).catch((e) => e);
  assert.ok(error instanceof ProtocolError, String(error));
  assert.match(
    error.message,
    /nonce mismatch: host sent "[0-9a-f]{32}", plugin answered "0123456789abcdef"/,
  );
});

Deno.test("startPlugin() rejects when the plugin lacks the contract or serves another version", async () => {
  const missing = await startPlugin(fixture("text_only.ts"), { contracts: [Calc] }).catch((e) => e);
  assert.ok(missing instanceof ProtocolError);
  assert.match(missing.message, /does not serve contract "calc" \(it serves "text" v2\)/);
  const TextV3 = defineContract({
    name: "text",
    version: 3,
    methods: { upper: z.function({ input: [z.string()], output: z.string() }) },
  });
  const old = await startPlugin(fixture("text_only.ts"), { contracts: [TextV3] }).catch((e) => e);
  assert.ok(old instanceof ProtocolError);
  assert.match(old.message, /host wants version 3, plugin serves version 2/);
});

Deno.test("startPlugin() times out on a plugin that never answers, with its stderr tail", async () => {
  const error = await startPlugin(fixture("never_ready.ts"), {
    contracts: [Calc],
    startTimeout: 1500,
  })
    .catch((e) => e);
  assert.ok(error instanceof TimeoutError, String(error));
  assert.equal(error.name, "TimeoutError");
  assert.equal(error.operation, "start");
  assert.match(error.stderrTail, /never_ready: loaded/);
  assert.match(error.message, /never_ready: loaded/);
});

Deno.test("startPlugin() rejects with PluginExitedError when the plugin crashes on start", async () => {
  const error = await startPlugin(fixture("crash_on_start.ts"), { contracts: [Calc] }).catch((e) =>
    e
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.exitCode, 1);
  assert.equal(error.reason, "exited");
  assert.match(error.stderrTail, /boom at start/);
});

Deno.test("a crash in the middle of a call rejects it with the exit code and stderr tail", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const calc = plugin.api(Calc);
  const waiting = calc.wait(60_000).catch((e) => e);
  const error = await calc.exitNow(3).catch((e) => e);
  for (const e of [error, await waiting]) {
    assert.ok(e instanceof PluginExitedError, String(e));
    assert.equal(e.exitCode, 3);
    assert.equal(e.signal, null);
    assert.match(e.stderrTail, /exiting with 3 on purpose/);
  }
  assert.match(
    (await waiting).message,
    /Cannot call "calc\.wait" on plugin "fixtures": process exited with code 3/,
  );
  // Later calls fail at once with the same cause.
  await assert.rejects(calc.add(1, 1), PluginExitedError);
});

Deno.test("close() with calls in flight rejects them and resolves with how the plugin ended", async () => {
  const plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const calc = plugin.api(Calc);
  const pending = [calc.wait(60_000), calc.wait(60_000)].map((p) => p.catch((e) => e));
  const status = await within(plugin.close(), 5000, "close()");
  assert.equal(status.reason, "stopped");
  assert.equal(status.code, 0);
  for (const error of await Promise.all(pending)) {
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal(error.reason, "stopped");
  }
  assert.deepEqual(await plugin.close(), status, "close() twice is harmless");
});

Deno.test("a call past its deadline rejects with TimeoutError at once", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const error = await plugin.api(Calc, { timeout: 200 }).wait(60_000).catch((e) => e);
  assert.ok(error instanceof TimeoutError, String(error));
  assert.equal(error.method, "calc.wait");
  assert.equal(await plugin.api(Calc).add(1, 1), 2);
});

Deno.test("describe() reports each contract's methods with JSON Schemas", async () => {
  await using plugin = await startPlugin(fixture("calc.ts"), { contracts: [Calc] });
  const described = await plugin.describe();
  assert.deepEqual(described.map((c) => [c.name, c.version]), [["calc", 1], ["text", 2]]);
  const add = described[0].methods.find((m) => m.name === "add")!;
  assert.deepEqual((add.input as { prefixItems: unknown[] }).prefixItems, [{ type: "number" }, {
    type: "number",
  }]);
  assert.deepEqual((add.output as { type: string }).type, "number");
});

Deno.test("a call that ignores its deadline keeps its slot until the plugin answers; a stuck plugin is killed", async () => {
  const { Life } = await import("../fixtures/contracts.ts");
  await using plugin = await startPlugin(fixture("lifecycle.ts"), {
    contracts: [Life],
    maxInFlight: 1,
    cancelGraceMs: 300,
  });
  const spin = await rejected<TimeoutError>(plugin.api(Life, { timeout: 100 }).spin());
  assert.ok(spin instanceof TimeoutError);
  assert.equal(plugin.inFlight, 1, "the busy handler still counts");
  // Its slot is not free: this call waits, and the stuck plugin is killed meanwhile.
  const next = await rejected<PluginExitedError>(plugin.api(Life, { timeout: 5000 }).echo(1));
  assert.ok(next instanceof PluginExitedError, String(next));
  assert.equal((await plugin.exited).reason, "killed");
});

Deno.test("a plugin is spawned only from an unchanged plan that planPlugin made, once", async () => {
  const { launchPlugin } = await import("../../runner/host/mod.ts");
  const { planPlugin } = await import("../../runner/sandbox/mod.ts");
  const plan = await planPlugin(fixture("calc.ts"), { isolation: "deno" });
  assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.args) && Object.isFrozen(plan.env));
  assert.throws(() => (plan.args as string[]).push("--allow-all"), TypeError);
  // A copy with one flag more is a hand-made plan: refused before anything is spawned.
  const forged = {
    ...plan,
    args: [...plan.args.slice(0, -2), "--allow-all", ...plan.args.slice(-2)],
  };
  const error = await rejected<TypeError>(launchPlugin(forged, { contracts: [Calc] }));
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /plans are made by planPlugin/);
  // The genuine plan still starts, once: two plugins from one plan shared its cgroups and a run
  // grant's own Deno dir, and one's end killed the other (review 49).
  await using plugin = await launchPlugin(plan, { contracts: [Calc] });
  assert.equal(await plugin.api(Calc).add(1, 2), 3);
  const again = await rejected<TypeError>(launchPlugin(plan, { contracts: [Calc] }));
  assert.match(again.message, /planPlugin\(\), unchanged, and used once/);
  assert.equal(await plugin.api(Calc).add(2, 2), 4, "the first runs on");
});
