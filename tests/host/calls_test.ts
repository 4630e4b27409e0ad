import assert from "node:assert/strict";
import { PluginExitedError, TimeoutError } from "../../runner/errors.ts";
import { callerOn } from "./_caller.ts";
import { rejected, within } from "../_helpers.ts";

/** A caller wired to a peer whose plugin side answers when told to. */
function harness(maxInFlight = 2) {
  const sent: { id: number; method: string }[] = [];
  const { peer, caller } = callerOn(
    (message) => {
      if ("method" in message && "id" in message && message.id !== undefined) {
        sent.push({ id: message.id as number, method: message.method });
      }
    },
    maxInFlight,
    "tail",
  );
  const answer = (id: number, result: unknown) => peer.receive({ jsonrpc: "2.0", id, result });
  return { peer, caller, sent, answer };
}

Deno.test("Caller queues calls beyond maxInFlight and sends them in order as slots free", async () => {
  const { caller, sent, answer, peer } = harness(2);
  const calls = [1, 2, 3, 4].map((n) => caller.call(`m${n}`, []));
  await Promise.resolve();
  assert.deepEqual(sent.map((s) => s.method), ["m1", "m2"]);
  answer(sent[0].id, "one");
  assert.equal(await calls[0], "one");
  await within(
    (async () => {
      while (sent.length < 3) await new Promise((r) => setTimeout(r, 1));
    })(),
    1000,
    "the third call to go out",
  );
  assert.equal(sent[2].method, "m3");
  peer.close(new Error("done"));
  await Promise.allSettled(calls);
  caller.clear();
});

Deno.test("Caller: a deadline reaches a queued call and a sent one alike", async () => {
  const { caller, sent, peer } = harness(1);
  const first = rejected<TimeoutError>(caller.call("slow", [], { timeout: 50 }));
  const queued = rejected<TimeoutError>(caller.call("waiting", [], { timeout: 50 }));
  const [a, b] = await within(Promise.all([first, queued]), 2000, "both deadlines");
  assert.ok(a instanceof TimeoutError && b instanceof TimeoutError);
  assert.equal(a.method, "slow");
  assert.equal(b.method, "waiting");
  assert.equal(a.stderrTail, "tail");
  assert.deepEqual(sent.map((s) => s.method), ["slow"], "the queued call never went out");
  peer.close(new Error("done"));
  caller.clear();
});

Deno.test("Caller: an abort signal reaches a queued call and a sent one, with its reason", async () => {
  const { caller, sent, peer } = harness(1);
  const controller = new AbortController();
  const first = rejected(caller.call("a", [], { signal: controller.signal }));
  const queued = rejected(caller.call("b", [], { signal: controller.signal }));
  await Promise.resolve();
  controller.abort(new Error("user gave up"));
  for (const error of await Promise.all([first, queued])) {
    assert.equal(error.message, "user gave up");
  }
  assert.deepEqual(sent.map((s) => s.method), ["a"]);
  await assert.rejects(caller.call("c", [], { signal: controller.signal }), /user gave up/);
  peer.close(new Error("done"));
  caller.clear();
});

Deno.test("Caller names the method in exit errors", async () => {
  const { caller, peer } = harness();
  const pending = rejected<PluginExitedError>(caller.call("life.work", []));
  peer.close(
    new PluginExitedError("p", { code: 1, signal: null, reason: "exited", stderrTail: "" }),
  );
  const error = await pending;
  assert.ok(error instanceof PluginExitedError);
  assert.equal(error.method, "life.work");
  caller.clear();
});

Deno.test("Caller: a queued call that timed out gives its turn to the next, never goes out", async () => {
  const { caller, sent, answer, peer } = harness(1);
  const first = caller.call("first", [], { timeout: 60_000 });
  const expired = rejected<TimeoutError>(caller.call("expired", [], { timeout: 20 }));
  const signalled = caller.call("signalled", [], { signal: new AbortController().signal });
  const last = caller.call("last", []);
  assert.ok((await within(expired, 2000, "the queued deadline")) instanceof TimeoutError);
  answer(sent[0].id, 1);
  assert.equal(await first, 1);
  // One line for calls with and without a signal: the signalled call was queued first.
  await within(
    (async () => {
      while (sent.length < 2) await new Promise((r) => setTimeout(r, 1));
    })(),
    1000,
    "the next call to go out",
  );
  assert.deepEqual(sent.map((s) => s.method), ["first", "signalled"]);
  answer(sent[1].id, 2);
  assert.equal(await signalled, 2);
  await within(
    (async () => {
      while (sent.length < 3) await new Promise((r) => setTimeout(r, 1));
    })(),
    1000,
    "the last call to go out",
  );
  answer(sent[2].id, 3);
  assert.equal(await last, 3);
  assert.deepEqual(sent.map((s) => s.method), ["first", "signalled", "last"]);
  peer.close(new Error("done"));
  caller.clear();
});

Deno.test("Caller: a long line of queued calls all settle when the plugin exits, without recursion", async () => {
  const { caller, peer } = harness(1);
  const calls = Array.from({ length: 50_000 }, (_, i) => caller.call(`m${i}`, []));
  // Waited on before they settle, as a caller's awaits are: 50,000 rejections with no handler yet
  // cost Deno's unhandled-rejection tracking 9 s when allSettled took them over afterwards.
  const all = Promise.allSettled(calls);
  peer.close(
    new PluginExitedError("p", { code: 1, signal: null, reason: "exited", stderrTail: "" }),
  );
  const settled = await within(all, 20_000, "every queued call");
  assert.ok(settled.every((s) => s.status === "rejected"));
  const last = (settled.at(-1) as PromiseRejectedResult).reason;
  assert.ok(last instanceof PluginExitedError);
  assert.equal(last.method, "m49999");
  caller.clear();
});

/**
 * Runs `body` where gc() is exposed, after it has a `Caller` (`caller`) on an in-memory `Peer`
 * (`wire`) that answers every call with `{ n: <id> }`; returns what it printed.
 */
async function withGc(body: string): Promise<string> {
  const calls = new URL("../../runner/host/calls.ts", import.meta.url).href;
  const peer = new URL("../../runner/wire/peer.ts", import.meta.url).href;
  const script = `
    const { Caller } = await import(${JSON.stringify(calls)});
    const { Peer } = await import(${JSON.stringify(peer)});
    const wire = new Peer((m) => queueMicrotask(() => wire.receive({ jsonrpc: "2.0", id: m.id, result: { n: m.id } })));
    const caller = new Caller(wire, { plugin: "p", maxInFlight: 4, callTimeout: 60000, stderrTail: () => "", exitStatus: () => undefined });
    const collect = async () => { for (let i = 0; i < 5; i++) { await new Promise((r) => setTimeout(r, 5)); gc(); } };
    ${body}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const printed = new TextDecoder().decode(out.stdout).trim();
  return printed || new TextDecoder().decode(out.stderr);
}

Deno.test("Caller keeps nothing of a call once it is over: its result can be collected", async () => {
  // The call's result is the only thing holding the WeakRef's target.
  const seen = await withGc(`
    const ref = new WeakRef(await caller.call("m", []));
    wire.close(new Error("done"));
    caller.clear();
    await collect();
    console.log(ref.deref() === undefined ? "collected" : "kept");`);
  assert.equal(seen, "collected");
});

Deno.test("Caller keeps no settled call's result while it goes on calling", async () => {
  const kept = await withGc(`
    const refs = [];
    for (let i = 0; i < 100; i++) refs.push(new WeakRef(await caller.call("m", [])));
    for (let i = 0; i < 10; i++) await caller.call("m", []); // the caller is still in use
    await collect();
    console.log(refs.filter((ref) => ref.deref() !== undefined).length);
    caller.clear();`);
  assert.equal(kept, "0", `results still reachable: ${kept}`);
});
