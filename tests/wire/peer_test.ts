import assert from "node:assert/strict";
import { Peer, type PeerOptions, ResponseError } from "../../runner/wire/peer.ts";
import type { Message } from "../../runner/wire/protocol.ts";
import { rejected, until, within } from "../_helpers.ts";

/** Two peers joined by an in-memory wire that round-trips JSON, like the real one. */
function pair(left: PeerOptions = {}, right: PeerOptions = {}) {
  const wire: { from: string; message: Message }[] = [];
  const peers: Peer[] = [];
  const deliver = (from: string, to: () => Peer) => (message: Message) => {
    const copy = JSON.parse(JSON.stringify(message));
    wire.push({ from, message: copy });
    return new Promise<boolean>((resolve) =>
      queueMicrotask(() => {
        to().receive(copy);
        resolve(true);
      })
    );
  };
  peers.push(new Peer(deliver("host", () => peers[1]), left));
  peers.push(new Peer(deliver("plugin", () => peers[0]), right));
  return { host: peers[0], plugin: peers[1], wire };
}

Deno.test("Peer round-trips a request and its result", async () => {
  const { host } = pair({}, { onRequest: (method, params) => ({ method, params }) });
  assert.deepEqual(await host.request("x.y", [1, "two"]), { method: "x.y", params: [1, "two"] });
  assert.equal(host.pendingCount, 0);
});

Deno.test("Peer rejects with ResponseError for an error answer, and InternalError for a plain throw", async () => {
  const { host } = pair({}, {
    onRequest: (method) => {
      if (method === "coded") throw new ResponseError(-32099, "custom", { why: 1 });
      throw new TypeError("plain");
    },
  });
  const coded = await rejected<ResponseError>(host.request("coded", []));
  assert.ok(coded instanceof ResponseError);
  assert.equal(coded.code, -32099);
  assert.deepEqual(coded.data, { why: 1 });
  const plain = await rejected<ResponseError>(host.request("plain", []));
  assert.equal(plain.code, -32603);
  assert.match(plain.message, /TypeError: plain/);
});

Deno.test("Peer answers method not found without a handler", async () => {
  const { host } = pair();
  const error = await rejected<ResponseError>(host.request("nope", []));
  assert.equal(error.code, -32601);
});

Deno.test("Peer answers InternalError when a result cannot be serialised", async () => {
  const { host } = pair({}, { onRequest: () => ({ n: 1n }) });
  const error = await rejected<ResponseError>(host.request("big", []));
  assert.equal(error.code, -32603);
  assert.match(error.message, /not JSON-serialisable/);
});

Deno.test("Peer delivers notifications", async () => {
  const seen: unknown[] = [];
  let done!: () => void;
  const arrived = new Promise<void>((r) => done = r);
  const { host } = pair({}, {
    onNotification: (method, params) => {
      seen.push([method, params]);
      done();
    },
  });
  host.notify("log", { text: "hi" });
  await within(arrived, 1000, "the notification");
  assert.deepEqual(seen, [["log", { text: "hi" }]]);
});

Deno.test("Peer cancel: the caller rejects at once, the handler sees abort, the late answer is absorbed", async () => {
  let handlerSignal!: AbortSignal;
  let handlerStarted!: () => void;
  const started = new Promise<void>((r) => handlerStarted = r);
  const violations: string[] = [];
  const { host, wire } = pair({ onViolation: (d) => violations.push(d) }, {
    onRequest: (_m, _p, { signal }) => {
      handlerSignal = signal;
      handlerStarted();
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    },
  });
  const controller = new AbortController();
  const call = host.request("slow", [], { signal: controller.signal });
  await started;
  controller.abort(new DOMException("stop", "AbortError"));
  await assert.rejects(call, (e: unknown) => e instanceof DOMException && e.message === "stop");
  await within(
    (async () => {
      while (host.pendingCount > 0) await new Promise((r) => setTimeout(r, 1));
    })(),
    1000,
    "the cancelled answer",
  );
  assert.ok(handlerSignal.aborted);
  const cancel = wire.find((w) =>
    w.message && "method" in w.message && w.message.method === "$/cancel"
  );
  assert.ok(cancel, "a $/cancel notification went out");
  const answer = wire.find((w) => w.from === "plugin" && "error" in w.message);
  assert.equal((answer!.message as { error: { code: number } }).error.code, -32800);
  assert.deepEqual(violations, []);
});

Deno.test("Peer tells onStuck when a cancelled request is never answered", async () => {
  let stuck!: (v: [string, unknown]) => void;
  const told = new Promise<[string, unknown]>((r) => stuck = r);
  const { host, plugin } = pair({ cancelGraceMs: 50, onStuck: (m, id) => stuck([m, id]) }, {
    onRequest: () => new Promise(() => {}), // ignores cancellation entirely
  });
  const controller = new AbortController();
  const call = rejected(host.request("busy", [], { signal: controller.signal }));
  controller.abort();
  assert.equal((await call).name, "AbortError");
  assert.deepEqual(await within(told, 2000, "onStuck"), ["busy", 1]);
  host.close(new Error("done"));
  plugin.close(new Error("done"));
});

Deno.test("Peer.close() rejects every pending request and later ones with the reason", async () => {
  const { host, plugin } = pair({}, { onRequest: () => new Promise(() => {}) });
  const reason = new Error("gone");
  const calls = [host.request("a", []), host.request("b", [])];
  host.close(reason);
  for (const call of calls) await assert.rejects(call, (e) => e === reason);
  await assert.rejects(host.request("c", []), (e) => e === reason);
  assert.equal(host.pendingCount, 0);
  plugin.close(reason);
});

Deno.test("Peer reports responses with unknown or duplicate ids and ignores them", () => {
  const violations: string[] = [];
  const peer = new Peer(() => Promise.resolve(true), { onViolation: (d) => violations.push(d) });
  peer.receive({ jsonrpc: "2.0", id: 77, result: 1 });
  peer.receive({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
  assert.equal(violations.length, 2);
  assert.match(violations[0], /unknown or already answered id 77/);
  assert.match(violations[1], /Parse error/);
});

Deno.test("Peer neutralises and bounds the peer's words in what it reports", () => {
  const violations: string[] = [];
  const peer = new Peer(() => {}, { onViolation: (d) => violations.push(d) });
  peer.receive({
    jsonrpc: "2.0",
    id: "\x1b]0;x\x07".repeat(20),
    error: { code: 1, message: "\x1b[2J".repeat(100_000) },
  });
  assert.equal(violations.length, 1);
  assert.ok(!violations[0].includes("\x1b"), "no raw escape");
  assert.ok(violations[0].length < 400, `${violations[0].length} characters`);
});

Deno.test("Peer answers malformed requests with InvalidRequest when they carry an id", () => {
  const sent: Message[] = [];
  const violations: string[] = [];
  const peer = new Peer((m) => {
    sent.push(m);
    return Promise.resolve(true);
  }, { onViolation: (d) => violations.push(d) });
  peer.receive({ jsonrpc: "1.0", id: 5, method: "x" });
  peer.receive([1, 2, 3]);
  peer.receive({ jsonrpc: "2.0", id: 6, result: 1, error: { code: 1, message: "both" } });
  assert.equal(violations.length, 3);
  assert.deepEqual(sent.map((m) => [m.id, (m as { error?: { code: number } }).error?.code]), [[
    5,
    -32600,
  ], [6, -32600]]);
});

Deno.test("Peer pauses reading when too many inbound requests are in progress", async () => {
  const release: (() => void)[] = [];
  const peer = new Peer(() => Promise.resolve(true), {
    maxInboundRequests: 2,
    onRequest: () => new Promise<void>((r) => release.push(r)),
  });
  assert.equal(peer.receive({ jsonrpc: "2.0", id: 1, method: "m" }), undefined);
  const gate = peer.receive({ jsonrpc: "2.0", id: 2, method: "m" });
  assert.ok(gate instanceof Promise, "the second request fills the limit");
  let opened = false;
  gate.then(() => opened = true);
  await Promise.resolve();
  assert.equal(opened, false);
  release[0]();
  await within(gate, 1000, "the gate to open");
  release[1]();
});

Deno.test("Peer holds requests beyond its slots up to maxQueuedRequests or maxQueuedBytes, and reads on until then", async () => {
  const release: (() => void)[] = [];
  const handled: number[] = [];
  const wasted: number[] = [];
  const peer = new Peer(() => Promise.resolve(true), {
    maxInboundRequests: 1,
    maxQueuedRequests: 10,
    maxQueuedBytes: 100,
    onRequest: (_method, params, context) => {
      handled.push((params as number[])[0]);
      assert.equal(context.bytes, 60, "the size it came with");
      return new Promise<void>((r) => release.push(r));
    },
    onWasted: (bytes) => wasted.push(bytes),
  });
  const request = (id: number) => ({
    kind: "request" as const,
    message: { jsonrpc: "2.0" as const, id, method: "m", params: [id] },
  });
  assert.equal(peer.accept(request(1), 60), undefined, "handled");
  assert.equal(peer.accept(request(2), 60), undefined, "held: 60 of 100 bytes");
  const gate = peer.accept(request(3), 60);
  assert.ok(gate instanceof Promise, "120 bytes held: the queue is full");
  // A held request cancelled before it ran is answered, and was work for nothing (review 65).
  peer.receive({ jsonrpc: "2.0", method: "$/cancel", params: { id: 2 } });
  assert.deepEqual(wasted, [60]);
  assert.equal(peer.isHandling(2), false);
  release[0]();
  await within(gate, 1000, "the gate to open once a slot is free");
  assert.deepEqual(handled, [1, 3], "the cancelled one never ran");
  release[1]();
});

Deno.test("Peer gives a request's size to its handler, when it ran at once or waited for a slot", async () => {
  const release: (() => void)[] = [];
  const seen: (number | undefined)[] = [];
  const peer = new Peer(() => Promise.resolve(true), {
    maxInboundRequests: 1,
    maxQueuedRequests: 10,
    onRequest: (_method, _params, context) => {
      seen.push(context.bytes);
      return new Promise<void>((r) => release.push(r));
    },
  });
  const request = (id: number) => ({
    kind: "request" as const,
    message: { jsonrpc: "2.0" as const, id, method: "m", params: [id] },
  });
  peer.accept(request(1), 60);
  peer.accept(request(2), 70); // waits for the slot
  peer.accept(request(3));
  release[0]();
  await until(() => release.length === 2, 1000, "the second to run");
  release[1]();
  await until(() => release.length === 3, 1000, "the third to run");
  release[2]();
  assert.deepEqual(seen, [60, 70, 0]);
});

Deno.test("Peer never throws from its own sends: a failing answer goes to onSendError, even from an async handler", async () => {
  const failures: unknown[] = [];
  let sends = 0;
  const peer = new Peer(() => {
    sends++;
    throw new RangeError("Cannot send a message: the line cap is 1024 bytes");
  }, {
    onRequest: (method) => method === "later" ? Promise.resolve("x") : "now",
    onSendError: (error) => failures.push(error),
  });
  peer.receive({ jsonrpc: "2.0", id: 1, method: "now" });
  peer.receive({ jsonrpc: "2.0", id: 2, method: "later" }); // answered in a promise callback
  peer.receive({ jsonrpc: "1.0", id: 3 }); // invalid, answered -32600
  peer.notify("$/cancel", { id: 9 });
  await within(
    (async () => {
      while (failures.length < 4) await new Promise((r) => setTimeout(r, 1));
    })(),
    1000,
    "every failed send to be reported",
  );
  assert.ok(failures.every((f) => f instanceof RangeError));
  assert.ok(sends >= 4);
});

Deno.test("Peer quotes at most 64 characters of an unknown method's name", () => {
  const sent: Message[] = [];
  const peer = new Peer((m) => void sent.push(m));
  peer.receive({ jsonrpc: "2.0", id: 1, method: "m".repeat(100_000) });
  const message = (sent[0] as { error: { message: string } }).error.message;
  assert.ok(message.length < 120, `${message.length} characters`);
});
