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
