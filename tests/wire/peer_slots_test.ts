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

/**
 * A peer whose writer takes `state.room` more answers before it is
 * backlogged (none at first), each write landed by hand.
 */
function heldPeer(stall: { maxHeldMs?: number; onStalled?: (held: number) => void } = {}) {
  const sent: { id: unknown; result?: unknown; error?: { code: number } }[] = [];
  const writes: (() => void)[] = [];
  let write: Promise<void> | undefined;
  const state = { room: 0, wasted: 0, violations: [] as string[] };
  const send = (message: unknown) => {
    sent.push(message as (typeof sent)[number]);
    state.room--;
  };
  const peer = new Peer(send, {
    maxInboundRequests: 8,
    onRequest: () => "answer",
    flushed: () => write ??= new Promise<void>((resolve) => writes.push(resolve)),
    backlogged: () => state.room <= 0,
    onWasted: () => state.wasted++,
    onViolation: (detail) => state.violations.push(detail),
    ...stall,
  });
  const request = (id: number) => peer.receive({ jsonrpc: "2.0", id, method: "m" });
  /** Lands the write in flight; the next send begins another. */
  const land = async () => {
    write = undefined;
    writes.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { peer, sent, state, request, land };
}

Deno.test("answers finished while the writer is backlogged wait as values, in order, and go once it has written", async () => {
  const { sent, state, request, land } = heldPeer();
  for (let id = 1; id <= 3; id++) request(id);
  assert.equal(sent.length, 0, "nothing serialised while the writer has no room for a line");
  state.room = Infinity;
  await land();
  assert.deepEqual(sent.map((answer) => answer.id), [1, 2, 3]);
  assert.ok(sent.every((answer) => answer.result === "answer"));
});

Deno.test("held answers go as far as the writer has room, the rest after its next write", async () => {
  const { sent, state, request, land } = heldPeer();
  for (let id = 1; id <= 4; id++) request(id);
  state.room = 2;
  await land();
  assert.deepEqual(sent.map((answer) => answer.id), [1, 2], "room for two, then backlogged again");
  state.room = Infinity;
  request(5);
  assert.equal(sent.length, 2, "a new answer waits behind the held ones, not before them");
  await land();
  assert.deepEqual(sent.map((answer) => answer.id), [1, 2, 3, 4, 5]);
});

Deno.test("a held answer's request cancelled meanwhile is answered cancelled, and the cancel is not waste", async () => {
  const { peer, sent, state, request, land } = heldPeer();
  request(1);
  request(2);
  peer.receive({ jsonrpc: "2.0", method: "$/cancel", params: { id: 2 } });
  state.room = Infinity;
  await land();
  assert.equal(sent[0].result, "answer");
  assert.equal(sent[1].error?.code, -32800, "cancelled while held: its answer is the cancel's");
  assert.equal(state.wasted, 0);
  assert.deepEqual(state.violations, []);
});

Deno.test("a peer closed while answers are held sends none of them", async () => {
  const { peer, sent, state, request, land } = heldPeer();
  request(1);
  peer.close(new Error("gone"));
  state.room = Infinity;
  await land();
  assert.equal(sent.length, 0);
});

Deno.test("held answers that wait past maxHeldMs for one write are told to onStalled, once", async () => {
  let told!: (held: number) => void;
  const stalled = new Promise<number>((resolve) => told = resolve);
  const calls: number[] = [];
  const { peer, request } = heldPeer({
    maxHeldMs: 20,
    onStalled: (held) => (calls.push(held), told(held)),
  });
  request(1);
  request(2);
  assert.equal(await within(stalled, 5000, "onStalled"), 2);
  peer.close(new Error("ended as not reading"));
  assert.deepEqual(calls, [2]);
});

/**
 * Runs a peer whose one answer is held behind a write, in a process of its own, then lands the
 * write or closes the peer: the process exits only if no stall timer is left.
 */
async function exitsAfter(end: "land" | "close"): Promise<void> {
  const script = `
    import { Peer } from ${
    JSON.stringify(new URL("../../runner/wire/peer.ts", import.meta.url).href)
  };
    let land, landed = false;
    const write = new Promise((resolve) => land = () => (landed = true, resolve()));
    const peer = new Peer(() => {}, {
      onRequest: () => "answer",
      flushed: () => write,
      backlogged: () => !landed,
      maxHeldMs: 600000,
      onStalled: () => {},
    });
    peer.receive({ jsonrpc: "2.0", id: 1, method: "m" });
    if (${JSON.stringify(end)} === "land") land(); else peer.close(new Error("done"));
    console.log("ended");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const { success, stdout } = await within(child.output(), 30_000, "the process's exit");
    assert.ok(success);
    assert.equal(new TextDecoder().decode(stdout).trim(), "ended");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }
}

Deno.test("held answers' stall timer ends with the write they waited for: the process exits", async () => {
  await exitsAfter("land");
});

Deno.test("a peer closed while answers are held keeps no stall timer: the process exits", async () => {
  await exitsAfter("close");
});
