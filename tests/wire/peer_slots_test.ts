// An inbound request holds its slot until its answer is written, not just
// queued: a sender that floods requests and never reads the answers fills
// the pipe and stops the reader, instead of growing the answer queue.
import assert from "node:assert/strict";
import { Peer } from "../../runner/wire/peer.ts";
import { within } from "../_helpers.ts";

Deno.test("an answered request keeps its slot until the answer is written", async () => {
  const answers: unknown[] = [];
  let written!: () => void;
  const flushed = new Promise<void>((resolve) => written = resolve);
  const peer = new Peer((message) => answers.push(message), {
    maxInboundRequests: 3,
    onRequest: () => "done at once",
    // The pipe is full: nothing written until `written()`.
    flushed: () => flushed,
  });
  let gate: void | Promise<void> = undefined;
  let read = 0;
  while (read < 100) {
    gate = peer.receive({ jsonrpc: "2.0", id: ++read, method: "m" });
    if (gate instanceof Promise) break;
  }
  assert.equal(read, 3, "reading stopped at the cap while no answer was written");
  assert.equal(answers.length, 3);
  written();
  await within(gate as Promise<void>, 1000, "the reader to be let go once answers are written");
});

Deno.test("answers free their slots write by write, each write only its own", async () => {
  const writes: (() => void)[] = [];
  let write: Promise<void> | undefined;
  const peer = new Peer(() => {}, {
    maxInboundRequests: 2,
    onRequest: () => "done at once",
    // What is queued now goes out in the current write; `write = undefined` begins the next.
    flushed: () => write ??= new Promise<void>((resolve) => writes.push(resolve)),
  });
  const request = (id: number) => peer.receive({ jsonrpc: "2.0", id, method: "m" });
  assert.equal(request(1), undefined);
  write = undefined;
  const full = request(2);
  assert.ok(full instanceof Promise, "two answers unwritten: the cap is reached");
  writes[1](); // the second write lands first: it frees its own answer's slot only
  await within(full, 1000, "the second write's slot");
  write = undefined;
  assert.ok(request(3) instanceof Promise, "the first answer still holds its slot");
  writes[0]();
  writes[2]();
});

Deno.test("a handler that looks at its signal after a cancel finds it aborted, with the reason", async () => {
  let cancelled!: () => void;
  const looked = new Promise<AbortSignal>((resolve) => {
    const peer = new Peer(() => {}, {
      onRequest: async (_method, _params, context) => {
        await new Promise<void>((r) => cancelled = r);
        resolve(context.signal);
      },
    });
    peer.receive({ jsonrpc: "2.0", id: 7, method: "m" });
    peer.receive({ jsonrpc: "2.0", method: "$/cancel", params: { id: 7 } });
  });
  cancelled();
  const signal = await within(looked, 1000, "the handler's look");
  assert.ok(signal.aborted);
  assert.equal((signal.reason as DOMException).name, "AbortError");
});
