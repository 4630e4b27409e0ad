import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract } from "../../contract.ts";
import { implement, serve } from "../../plugin.ts";
import { Dispatcher } from "../../runner/plugin/dispatch.ts";
import { LineTransport } from "../../runner/wire/transport.ts";
import { Peer, type ResponseError } from "../../runner/wire/peer.ts";
import { rejected, within } from "../_helpers.ts";

const Math2 = defineContract({
  name: "math",
  version: 1,
  methods: {
    add: z.function({ input: [z.number(), z.number()], output: z.number() }),
    slow: z.function({ input: [], output: z.string() }),
    bad: z.function({ input: [], output: z.string() }),
    denied: z.function({ input: [], output: z.string() }),
    optional: z.function({ input: [z.string(), z.number().optional()], output: z.string() }),
  },
});

const impl = implement(Math2, {
  add: (a, b) => a + b,
  slow: (ctx) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
    ),
  bad: () => 1 as unknown as string,
  // The real denial is exercised with real processes in start_test.ts; this test
  // runs with the test runner's own permissions, so it raises Deno's error itself.
  denied: () => {
    throw new Deno.errors.NotCapable(
      'Requires read access to "/definitely/not/granted", run again with the --allow-read flag',
    );
  },
  optional: (s, n, ctx) => `${s}:${n}:${ctx.signal instanceof AbortSignal}`,
});

/** serve() over in-memory pipes, with a host-side peer on the other end. */
function harness(args: string[] = ["--plugbox-nonce=n1"]) {
  const toPlugin = new TransformStream<Uint8Array, Uint8Array>();
  const fromPlugin = new TransformStream<Uint8Array, Uint8Array>();
  const served = serve(impl, { input: toPlugin.readable, output: fromPlugin.writable, args });
  const transport = new LineTransport(fromPlugin.readable, toPlugin.writable);
  const host = new Peer((m) => transport.send(m));
  // Every message the plugin sent, as it arrived (the peer drops late answers to cancelled calls).
  const received: { id?: unknown; error?: { code: number } }[] = [];
  const reading = transport.run({
    onMessage: (v) => {
      received.push(v as (typeof received)[number]);
      host.receive(v);
    },
    onStray() {},
  });
  const initialize = (nonce = "n1", protocolVersion = 1) =>
    host.request("$/initialize", { protocolVersion, nonce, contracts: [], maxLineBytes: 1 << 20 });
  const end = async () => {
    await transport.close();
    await within(served, 2000, "serve() to return at EOF");
    await reading;
    host.close(new Error("test over"));
  };
  return { host, initialize, end, received };
}

Deno.test("serve() answers the handshake with what it serves", async () => {
  const { initialize, end } = harness();
  assert.deepEqual(await initialize(), {
    protocolVersion: 1,
    nonce: "n1",
    contracts: [{
      name: "math",
      version: 1,
      methods: ["add", "slow", "bad", "denied", "optional"],
    }],
  });
  await end();
});

Deno.test("serve() refuses calls before the handshake", async () => {
  const { host, end } = harness();
  const error = await rejected<ResponseError>(host.request("math.add", [1, 2]));
  assert.equal(error.code, -32003);
  await end();
});

Deno.test("serve() refuses a handshake with the wrong nonce or version, stating both sides", async () => {
  const { initialize, end } = harness();
  const nonce = await rejected<ResponseError>(initialize("other"));
  assert.equal(nonce.code, -32011);
  assert.match(nonce.message, /plugin was started with "n1", host sent "other"/);
  const version = await rejected<ResponseError>(initialize("n1", 7));
  assert.equal(version.code, -32010);
  assert.match(version.message, /Plugin speaks protocol version 1, host sent 7/);
  await end();
  const bare = harness([]);
  assert.match((await rejected(bare.initialize())).message, /started with no --plugbox-nonce/);
  await bare.end();
});

Deno.test("serve() dispatches calls, validates arguments and results, encodes errors", async () => {
  const { host, initialize, end } = harness();
  await initialize();
  assert.equal(await host.request("math.add", [2, 3]), 5);
  const params = await rejected<ResponseError>(host.request("math.add", [2, "x"]));
  assert.equal(params.code, -32602);
  assert.match(params.message, /Invalid argument at \[1\]/);
  assert.deepEqual((params.data as { issues: { path: unknown[] }[] }).issues[0].path, [1]);
  const result = await rejected<ResponseError>(host.request("math.bad", []));
  assert.equal(result.code, -32002);
  const missing = await rejected<ResponseError>(host.request("math.nope", []));
  assert.equal(missing.code, -32601);
  const denied = await rejected<ResponseError>(host.request("math.denied", []));
  assert.equal(denied.code, -32001);
  assert.deepEqual(denied.data, {
    name: "NotCapable",
    permission: "read",
    target: "/definitely/not/granted",
  });
  assert.deepEqual(await host.request("$/ping", {}), {});
  assert.equal(await host.request("math.optional", ["a"]), "a:undefined:true");
  await end();
});

Deno.test("serve() aborts a handler on $/cancel and answers RequestCancelled", async () => {
  const { host, initialize, end, received } = harness();
  await initialize();
  const outgoing = host.start("math.slow", []);
  const call = rejected(outgoing.promise);
  host.cancel(outgoing.id, new DOMException("enough", "AbortError"));
  assert.equal((await call).message, "enough");
  await within(
    (async () => {
      while (host.pendingCount > 0) await new Promise((r) => setTimeout(r, 1));
    })(),
    2000,
    "the plugin to answer the cancelled request",
  );
  // The handler's signal aborted it, and the answer says so: -32800, not its own error.
  const answer = received.find((m) => m.id === outgoing.id);
  assert.equal(answer?.error?.code, -32800, JSON.stringify(answer));
  await end();
});

Deno.test("Dispatcher refuses to serve one contract twice", () => {
  assert.throws(() => new Dispatcher([impl, impl]), /serve contract "math" twice/);
});

Deno.test("a handler's context copied with { ...ctx } keeps its signal, aborted by a cancel", async () => {
  const Copy = defineContract({
    name: "copy",
    version: 1,
    methods: { wait: z.function({ input: [], output: z.string() }) },
  });
  let started!: () => void;
  const waiting = new Promise<void>((resolve) => started = resolve);
  const dispatcher = new Dispatcher([
    implement(Copy, {
      wait: (ctx) => {
        const { signal } = { ...ctx }; // a helper handed a copy of the context
        started();
        return new Promise((resolve) => signal.addEventListener("abort", () => resolve("aborted")));
      },
    }),
  ]);
  const cancel = new AbortController();
  const answer = dispatcher.dispatch("copy.wait", [], { id: 1, signal: cancel.signal });
  await within(waiting, 1000, "the handler");
  cancel.abort();
  assert.equal(await within(Promise.resolve(answer), 1000, "the abort"), "aborted");
});
