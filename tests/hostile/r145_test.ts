// Review 145: every public entry point given what a careless or hostile host author passes. A
// cache folder whose name holds a "#", a command with holes, contract checks that throw, byte caps
// of NaN or Infinity, misspelt policies, null options and lists with holes. Each test failed on
// the code it was written against (ff87ccb).
import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import {
  approvePlugin,
  defineContract,
  hostFetch,
  PluginExitedError,
  PluginHost,
  PreflightError,
  previewStart,
  provide,
  startPlugin,
  suggestManifest,
  ValidationError,
} from "../../mod.ts";
import { Life } from "../fixtures/contracts.ts";
import { R145 } from "./plugins/r145_contract.ts";
import { fixture, rejected, testDeadline, until } from "../_helpers.ts";
import { childrenOf, hostile, ISOLATIONS } from "./_hostile.ts";

/** Waits until no process started since `before` is left. */
async function noneLeft(before: Set<number>): Promise<void> {
  await until(
    () => childrenOf(Deno.pid).filter((pid) => !before.has(pid)).length === 0,
    10_000,
    "no process of the start left",
  );
}

// `deno info` took the snapshot's path as a URL unencoded: a "#" or "?" cut it, a "%", "\" or
// control character broke it, and every start was refused as a plugin whose module "leaves the
// plugin's folder", quoting plugbox's cache (measured: "/tmp/r145c-…/c" for a cache of
// "/tmp/r145c-…/c#d"), not the option that caused it. `deno run` took the same path well.
Deno.test("r145: a cache folder whose name holds #, ?, %, a backslash or a control character starts the plugin", async () => {
  testDeadline(180_000);
  const cases = [
    ...["#", "?", "%", "%20", "\\", "\t", "\n"].map((ch) => ({ ch, isolation: "deno" as const })),
    ...ISOLATIONS.filter((i) => i !== "deno").map((isolation) => ({ ch: "#", isolation })),
  ];
  for (const { ch, isolation } of cases) {
    const base = await Deno.makeTempDir({ prefix: "r145-cache-" });
    try {
      const cacheDir = join(base, `c${ch}d`);
      let outcome: unknown;
      try {
        const plugin = await startPlugin(fixture("lifecycle.ts"), {
          contracts: [Life],
          isolation,
          cacheDir,
        });
        try {
          outcome = await plugin.api(Life).echo(7);
        } finally {
          await plugin.close();
        }
      } catch (error) {
        outcome = error;
      }
      assert.ok(
        !(outcome instanceof PreflightError),
        `${JSON.stringify(ch)} under ${isolation}: ${(outcome as Error).message}`,
      );
      assert.equal(outcome, 7, `${JSON.stringify(ch)} under ${isolation}: ${outcome}`);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  }
});

// `every` skips an array's holes: `[, "/bin/echo"]` passed the check and failed deep inside as
// "Cannot read properties of undefined (reading 'includes')"; `["/bin/echo", , "x"]` ran, with an
// argument no check had seen, and ended as a PluginExitedError blaming the program.
Deno.test("r145: a command with holes is refused by name before anything runs", async () => {
  const sparse = new Array<string>(3);
  sparse[2] = "/bin/echo";
  const before = new Set(childrenOf(Deno.pid));
  for (const command of [[, "/bin/echo"], ["/bin/echo", , "x"], sparse]) {
    const error = await rejected<TypeError>(startPlugin(fixture("lifecycle.ts"), {
      contracts: [Life],
      isolation: "os",
      command: command as string[],
      startTimeout: 5_000,
    }));
    assert.ok(!(error instanceof PluginExitedError), error.message);
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /the "command" option must be a list of 1 to 64 non-empty strings/);
  }
  await noneLeft(before);
});

/** Starts review 145's raw plugin, which sends 13 past the SDK's own checks. */
async function raw(errors: [unknown, string][]) {
  return await startPlugin(hostile("r145_raw.ts"), {
    contracts: [R145],
    isolation: "deno",
    callTimeout: 20_000,
    capabilities: [provide(R145, { take: (n) => n, give: (n) => n })],
    onCapabilityError: (error, capability) => errors.push([error, capability]),
  });
}

// A contract's refinement, transform or preprocess that throws was let through as it was thrown:
// from a progress report's check it ended the reading of the plugin's output, and the plugin was
// killed as one that "broke the protocol: the refinement threw on 13", every call with it; from a
// capability's check, the plugin was answered with the host's own exception ("Error: the
// refinement threw on 13", where PROTOCOL.md promises "nothing of the host's internals") and
// onCapabilityError never heard of it; from a result's check, the caller got the bare Error,
// naming neither the method nor the plugin.
Deno.test("r145: a contract check that throws is the host's to hear of: the plugin lives on, is told nothing of it, the caller learns where", async () => {
  testDeadline(60_000);
  const errors: [unknown, string][] = [];
  await using plugin = await raw(errors);
  const api = plugin.api(R145);
  const seen: unknown[] = [];
  assert.equal(await api.reports.with({ onProgress: (v) => seen.push(v) })(13), "done");
  assert.deepEqual(seen, []);
  assert.equal(await api.echo(5), 5, "the plugin still answers");

  for (
    const [method, capability, thrown] of [["asks", "take", "refinement"], [
      "gives",
      "give",
      "transform",
    ]] as const
  ) {
    const answer = await api[method](13);
    assert.equal(answer, `refused Capability "r145.${capability}" failed`);
    const [error, named] = errors.shift()!;
    assert.equal(named, `r145.${capability}`);
    assert.equal((error as Error).message, `the ${thrown} threw on 13`);
  }
  assert.deepEqual(errors, []);

  for (
    const [method, thrown] of [["refined", "refinement"], ["transformed", "transform"], [
      "preprocessed",
      "preprocess",
    ]] as const
  ) {
    const error = await rejected<ValidationError>(api[method](13));
    assert.ok(error instanceof ValidationError, String(error));
    assert.equal(error.method, method);
    assert.match(
      error.message,
      new RegExp(`r145\\.${method}" from plugin .*own check threw: the ${thrown} threw on 13`),
    );
    assert.equal((error.cause as Error).message, `the ${thrown} threw on 13`);
  }
  const items: number[] = [];
  const broken = await rejected<ValidationError>((async () => {
    for await (const item of api.items(13)) items.push(item);
  })());
  assert.ok(broken instanceof ValidationError, String(broken));
  assert.equal((broken.cause as Error).message, "the refinement threw on 13");
  assert.deepEqual(items, []);
  assert.equal(await api.echo(6), 6, "the plugin still answers");

  // The host's own arguments: the call threw at once, where every other failure rejects.
  let call: Promise<number> | undefined;
  assert.doesNotThrow(() => call = api.takes(13));
  const refused = await rejected<ValidationError>(call!);
  assert.ok(refused instanceof ValidationError, String(refused));
  assert.equal(refused.direction, "input");
  assert.match(refused.message, /r145\.takes" at \(root\): its schema's own check threw/);
  assert.equal((refused.cause as Error).message, "the refinement threw on 13");
  assert.equal(await api.takes(12), 12);
});

// Unchecked: a response cap of Infinity or 1e15 was none (a server's body was read whole into the
// host's memory), one of NaN failed every response with a body as "the response broke off"
// (blaming the network), one of -1 refused every body as "over -1 bytes".
Deno.test("r145: hostFetch refuses byte caps it cannot hold, by name", () => {
  for (const option of ["maxRequestBytes", "maxResponseBytes"]) {
    for (const value of [NaN, Infinity, -1, 1.5, 1e15, 2 ** 53, "5", null]) {
      assert.throws(
        () =>
          hostFetch({
            allow: ["127.0.0.1:1"],
            unsafe: { privateNetwork: true },
            [option]: value,
          }),
        (error: Error) =>
          error instanceof TypeError &&
          error.message.includes(`"${option}" must be an integer from 0 to ${256 * 1024 * 1024}`),
        `${option}: ${String(value)}`,
      );
    }
    hostFetch({ allow: ["127.0.0.1:1"], unsafe: { privateNetwork: true }, [option]: 0 });
  }
});

// A policy misspelt was taken for the default: "always" or Docker's "no" as "on-failure" (the
// plugin came back against what its host wrote), "Fail" as "wait".
Deno.test("r145: a managed plugin's misspelt restart policy is refused by name, before anything runs", async () => {
  await using host = new PluginHost({ handleSignals: false });
  const before = new Set(childrenOf(Deno.pid));
  const cases = [
    ["restart", "no", /"restart" must be "never" or "on-failure", got "no"/],
    ["restart", "always", /"restart" must be "never" or "on-failure", got "always"/],
    ["restart", "Never", /got "Never"/],
    ["restart", 0, /"restart" must be .*, got number/],
    ["whileRestarting", "Fail", /"whileRestarting" must be "wait" or "fail", got "Fail"/],
    ["whileRestarting", "x\u202e\n", /got "x\\u\{202e\}\\x0a"/],
  ] as const;
  for (const [option, value, message] of cases) {
    const error = await rejected<TypeError>(
      host.start("typo", fixture("lifecycle.ts"), {
        contracts: [Life],
        isolation: "deno",
        [option]: value,
      }),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, message);
  }
  await noneLeft(before);
});

// null options failed as "Cannot read properties of null (reading 'handleSignals')", "(reading
// 'onLog')" and "(reading 'timeout')"; a hole in "contracts" as "Cannot define contract: the
// definition must be an object", naming no list and no place; "capabilities" that were no list
// as "provided is not iterable", a hole in them as providing contract "undefined"; a module URL's
// password was quoted whole.
Deno.test("r145: null options, lists with holes and a URL's credentials are named as the host wrote them", async () => {
  const before = new Set(childrenOf(Deno.pid));
  assert.throws(
    () => new PluginHost(null as never),
    /Cannot make a plugin host: its options must be an object, got null/,
  );
  await using host = new PluginHost({ handleSignals: false });
  const nulled = await rejected<TypeError>(host.start("n", fixture("lifecycle.ts"), null as never));
  assert.match(nulled.message, /Cannot start plugin "n": its options must be an object/);
  const lists = [
    [
      { contracts: [, Life] },
      /"contracts\[0\]" must be a contract made by defineContract\(\), got undefined/,
    ],
    [{ contracts: [Life, null] }, /"contracts\[1\]" must be a contract .*, got null/],
    [
      { contracts: [Life], capabilities: {} },
      /"capabilities" must be a list of what provide\(\) made, got object/,
    ],
    [
      { contracts: [Life], capabilities: [, undefined] },
      /"capabilities\[0\]" must be what provide\(\) made, got undefined/,
    ],
  ] as const;
  for (const [options, message] of lists) {
    const error = await rejected<TypeError>(
      startPlugin(fixture("lifecycle.ts"), { isolation: "deno", ...options } as never),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, message);
  }
  const url = await rejected<TypeError>(
    startPlugin("https://someone:secretpw@example.com/main.ts", { contracts: [Life] }),
  );
  assert.match(
    url.message,
    /must be a local path or file: URL, got "https:\/\/example\.com\/main\.ts"/,
  );
  assert.ok(!url.message.includes("secretpw"), url.message);
  await using plugin = await startPlugin(fixture("lifecycle.ts"), {
    contracts: [Life],
    isolation: "deno",
  });
  assert.throws(() => plugin.api(Life, null as never), /Call options must be an object, got null/);
  await plugin.close();
  await noneLeft(before);
});

/** A contract named `name` of `count` methods. */
function many(name: string, count: number) {
  const methods: Record<string, z.ZodFunction> = {};
  for (let i = 0; i < count; i++) methods[`m${i}`] = z.function({ input: [], output: z.number() });
  return defineContract({ name, version: 1, methods });
}

// A contract of 1,001 methods was defined, and every start of a plugin serving it ended in a
// ProtocolError blaming the plugin ("malformed \"contracts\" in the handshake answer": measured
// with the SDK's own serve()); so did a start of more contracts, or method names in all, than a
// handshake answer may list.
Deno.test("r145: a contract or a start of more methods than a handshake may list is refused where it is written", async () => {
  assert.throws(
    () => many("big", 1001),
    /Cannot define contract "big": "methods" holds more than 1000 methods/,
  );
  many("big", 1000);
  const before = new Set(childrenOf(Deno.pid));
  const wide = [0, 1, 2, 3, 4].map((i) => many(`wide${i}`, 1000));
  const tiny = Array.from({ length: 101 }, (_, i) => many(`tiny${i}`, 1));
  for (const [contracts, got] of [[wide, "5 of 5000"], [tiny, "101 of 101"]] as const) {
    const error = await rejected<TypeError>(
      startPlugin(fixture("lifecycle.ts"), { contracts, isolation: "deno" }),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `"contracts" must list at most 100 contracts of 4096 methods in all, .*\\(got ${got}\\)`,
      ),
    );
  }
  await noneLeft(before);
});

// A listener that is no function was taken: an `onLog` of 5 sent every log line nowhere (its call's
// TypeError swallowed as a listener's fault), an `egressResolver` of "x" failed each connection.
Deno.test("r145: a listener option that is no function is refused by name, before anything runs", async () => {
  const before = new Set(childrenOf(Deno.pid));
  for (
    const name of [
      "onLog",
      "onProtocolFault",
      "onUnresponsive",
      "onAudit",
      "onEgress",
      "onCapabilityError",
      "egressResolver",
    ]
  ) {
    for (const [value, got] of [[5, "number"], ["x", "string"], [null, "null"], [{}, "object"]]) {
      const error = await rejected<TypeError>(
        startPlugin(fixture("lifecycle.ts"), {
          contracts: [Life],
          isolation: "deno",
          [name]: value,
        }),
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, new RegExp(`"${name}" must be a function, got ${got}`));
    }
  }
  for (const name of ["onLog", "onEvent"]) {
    assert.throws(
      () => new PluginHost({ handleSignals: false, [name]: 5 }),
      new RegExp(`"${name}" must be a function, got number`),
    );
  }
  await noneLeft(before);
});

// previewStart's null failed as "Cannot read properties of null (reading 'signal')", a number was
// taken as no options, a signal that is none as "options.signal?.throwIfAborted is not a function"
// (startPlugin checked its own, review 122; a preview did not); approvePlugin's null as "Cannot
// destructure property 'lock'"; suggestManifest's as "logs is not iterable"; an input with a hole
// was defined, and every call failed in zod ("Cannot read properties of undefined (reading
// '_zod')", thrown at once by the call).
Deno.test("r145: previewStart, approvePlugin, suggestManifest and defineContract name what is wrong", async () => {
  const module = fixture("lifecycle.ts");
  for (const options of [null, 5]) {
    const error = await rejected<TypeError>(previewStart(module, options as never));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(
      error.message,
      /Cannot plan plugin ".*lifecycle\.ts": its options must be an object/,
    );
  }
  const fake = await rejected<TypeError>(
    previewStart(module, { isolation: "deno", signal: { aborted: false } as never }),
  );
  assert.match(fake.message, /"signal" must be an AbortSignal, got object/);
  const approval = await rejected<TypeError>(approvePlugin(module, null as never));
  assert.match(
    approval.message,
    /Cannot approve plugin ".*lifecycle\.ts": its options must be an object/,
  );
  assert.throws(
    () => suggestManifest(null as never),
    /Cannot suggest a manifest: "logs" must be a list of audit logs/,
  );
  assert.throws(
    () =>
      defineContract({
        name: "holes",
        version: 1,
        methods: {
          a: z.function({ input: [z.string(), , z.number()] as never, output: z.number() }),
        },
      }),
    /Cannot define contract "holes": method "a" has no zod schema for its argument 1/,
  );
});
