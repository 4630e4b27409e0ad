// A peer's inbound time share (PeerOptions.inboundTime): its requests' handlers may take that share
// of the thread, as a token bucket. Past it, requests wait in the queue, as for a slot, and run as
// it refills; past the queue, a peer that must keep reading refuses them. The times asserted are
// lower bounds the budget itself sets (a timer never fires early), never how fast anything ran.
import assert from "node:assert/strict";
import { Peer } from "../../runner/wire/peer.ts";
import { TimeBudget } from "../../runner/wire/time_budget.ts";
import { busy, within } from "../_helpers.ts";

/** A peer whose handler is busy `workMs` per request, and when each began. */
function pacedPeer(share: number, burstMs: number, workMs: number, queued = 64) {
  const began: number[] = [];
  const answers: { id: number; error?: { code: number } }[] = [];
  let answered!: () => void;
  const peer = new Peer((message) => {
    answers.push(message as { id: number; error?: { code: number } });
    if (answers.length === expected) answered();
  }, {
    maxInboundRequests: 64,
    maxQueuedRequests: queued,
    refuseWhenFull: true,
    inboundTime: { share, burstMs },
    onRequest: () => {
      began.push(performance.now());
      busy(workMs);
      return "done";
    },
  });
  let expected = 0;
  const all = (count: number) => {
    expected = count;
    return new Promise<void>((resolve) => answered = resolve);
  };
  return { peer, began, answers, all };
}

Deno.test("requests past the inbound time share wait and run as it refills: their starts are spaced by the work over the share", async () => {
  const share = 0.2;
  const work = 10;
  const { peer, began, answers, all } = pacedPeer(share, 5, work);
  const done = all(6);
  for (let id = 1; id <= 6; id++) peer.receive({ jsonrpc: "2.0", id, method: "m" });
  assert.equal(began.length, 1, "one ran at once (the burst); the rest wait for the budget");
  await within(done, 30_000, "every request's answer");
  assert.deepEqual(answers.map((a) => a.error), Array(6).fill(undefined), "none refused");
  // Each ran only once the last one's debt was paid: at least its work over the share, less the
  // burst the bucket holds (a whole ms either way for the timer's rounding).
  for (let i = 1; i < began.length; i++) {
    const gap = began[i] - began[i - 1];
    assert.ok(gap >= (work - 5) / share - 1, `start ${i} came ${gap.toFixed(1)} ms after the last`);
  }
  peer.close(new Error("done"));
});

Deno.test("without an inbound time share, requests run as they come", () => {
  let ran = 0;
  const peer = new Peer(() => {}, {
    maxInboundRequests: 64,
    onRequest: () => {
      ran++;
      busy(2);
    },
  });
  for (let id = 1; id <= 5; id++) peer.receive({ jsonrpc: "2.0", id, method: "m" });
  assert.equal(ran, 5);
  peer.close(new Error("done"));
});

Deno.test("past the inbound time share, slots left idle for it are queue room; past those and the queue, a peer that must keep reading answers overloaded", () => {
  const began: number[] = [];
  const answers: { id: number; error?: { code: number } }[] = [];
  const peer = new Peer((message) => void answers.push(message as (typeof answers)[number]), {
    maxInboundRequests: 2,
    maxQueuedRequests: 2,
    refuseWhenFull: true,
    inboundTime: { share: 0.01, burstMs: 1 },
    onRequest: () => {
      began.push(performance.now());
      busy(5);
      return "done";
    },
  });
  // The SDK keeps to the slots and the queue together (here 4): the budget alone refuses none.
  for (let id = 1; id <= 6; id++) peer.receive({ jsonrpc: "2.0", id, method: "m" });
  assert.equal(began.length, 1, "the first ran; four wait for the budget");
  assert.deepEqual(answers.map((a) => [a.id, a.error?.code]), [[1, undefined], [6, -32004]]);
  peer.close(new Error("done")); // the four waiting are dropped, and the refill's timer with them
});

Deno.test("owing more than its horizon for what it sent, a sender's new requests are refused at once, saying so", () => {
  const answers: { id: number; error?: { code: number; message: string } }[] = [];
  const peer = new Peer((message) => void answers.push(message as (typeof answers)[number]), {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    refuseWhenFull: true,
    inboundTime: { share: 0.001, burstMs: 1, maxOwedMs: 3 },
    onRequest: () => "done",
  });
  // Each one's reading cost 2 ms (a long line's, say): owed whether it runs or not. The first
  // waits for the share; the second takes what is owed past the horizon, and is refused.
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 1, method: "m" } }, 100, 2);
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 2, method: "m" } }, 100, 2);
  assert.deepEqual(answers.map((a) => [a.id, a.error?.code]), [[2, -32004]]);
  assert.match(answers[0].error!.message, /share of this peer's time is spent \(\d+ ms owed\)/);
  peer.close(new Error("done")); // the first, waiting for the share, is dropped
});

Deno.test("a request's long run is paced, never refused: what ran owes the share, not the horizon", async () => {
  const answers: { id: number; error?: { code: number } }[] = [];
  let both!: () => void;
  const done = new Promise<void>((resolve) => both = resolve);
  const peer = new Peer((message) => {
    answers.push(message as (typeof answers)[number]);
    if (answers.length === 2) both();
  }, {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    refuseWhenFull: true,
    inboundTime: { share: 0.5, burstMs: 1, maxOwedMs: 3 },
    onRequest: () => busy(8), // a capability's synchronous step of 8 ms: past the horizon
  });
  peer.receive({ jsonrpc: "2.0", id: 1, method: "m" });
  peer.receive({ jsonrpc: "2.0", id: 2, method: "m" }); // waits for the share, then runs
  await within(done, 10_000, "both answers");
  assert.deepEqual(answers.map((a) => [a.id, a.error?.code]), [[1, undefined], [2, undefined]]);
  peer.close(new Error("done"));
});

Deno.test("a request cancelled while it waited for the share is waste by its answer only: its reading and its answer are charged", () => {
  const wasted: number[] = [];
  const answers: { id: number; error?: { code: number } }[] = [];
  const peer = new Peer((message) => void answers.push(message as (typeof answers)[number]), {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    refuseWhenFull: true,
    inboundTime: { share: 0.001, burstMs: 1 },
    onRequest: () => busy(3),
    onWasted: (bytes) => void wasted.push(bytes),
  });
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 1, method: "m" } }, 100);
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 2, method: "m" } }, 60_000);
  peer.receive({ jsonrpc: "2.0", method: "$/cancel", params: { id: 2 } });
  assert.deepEqual(answers.map((a) => [a.id, a.error?.code]), [[1, undefined], [2, -32800]]);
  assert.deepEqual(wasted, [0], "its answer only: not its 60,000 bytes, which the share paid for");
  peer.close(new Error("done"));
});

Deno.test("without a share, a request cancelled while it waited for a slot is waste, by its size", () => {
  const wasted: number[] = [];
  let release!: () => void;
  const peer = new Peer(() => {}, {
    maxInboundRequests: 1,
    maxQueuedRequests: 4,
    onRequest: () => new Promise<void>((resolve) => release = resolve),
    onWasted: (bytes) => void wasted.push(bytes),
  });
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 1, method: "m" } }, 100);
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 2, method: "m" } }, 60_000);
  peer.receive({ jsonrpc: "2.0", method: "$/cancel", params: { id: 2 } });
  assert.deepEqual(wasted, [60_000]);
  release();
  peer.close(new Error("done"));
});

Deno.test("a peer closed while requests wait for the budget runs none of them", async () => {
  const { peer, began } = pacedPeer(0.01, 1, 5);
  for (let id = 1; id <= 3; id++) peer.receive({ jsonrpc: "2.0", id, method: "m" });
  assert.equal(began.length, 1);
  peer.close(new Error("closed")); // its timer cleared: the test would leak it otherwise
  assert.equal(began.length, 1);
  await Promise.resolve();
});

Deno.test("TimeBudget: earns its share of the time elapsed, up to the burst; work past it is a debt the wait pays", () => {
  const budget = new TimeBudget({ share: 0.5, burstMs: 4 }, 0);
  assert.ok(budget.left(0));
  budget.spend(10);
  assert.equal(budget.left(0), false);
  assert.equal(budget.waitMs(0), 12); // 6 ms of debt at 0.5 ms a ms
  assert.equal(budget.left(11), false);
  assert.ok(budget.left(13));
  assert.ok(budget.left(1_000_000));
  budget.spend(4); // the burst, no more, is what a long idle time gave
  assert.equal(budget.left(1_000_000), false);
});

Deno.test("the parse of a request's params, read lazily as its handler is called, is charged to the share", () => {
  let ran = 0;
  const peer = new Peer(() => {}, {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    inboundTime: { share: 0.01, burstMs: 1 },
    onRequest: () => void ran++,
  });
  // As a scanned line's envelope is: `params` parsed from its bytes when first read.
  const request = (id: number) => ({
    jsonrpc: "2.0" as const,
    id,
    method: "m",
    get params() {
      busy(5);
      return [];
    },
  });
  peer.accept({ kind: "request", message: request(1) });
  peer.accept({ kind: "request", message: request(2) });
  assert.equal(ran, 1, "the second waits: the first's parse spent the budget");
  peer.close(new Error("done"));
});

Deno.test("a closed peer keeps no refill timer: a process whose peer waited for a long refill exits once it closed", async () => {
  // A share so small that the refill after 2 ms of work is over half an hour away.
  const script = `
    import { Peer } from ${
    JSON.stringify(new URL("../../runner/wire/peer.ts", import.meta.url).href)
  };
    const peer = new Peer(() => {}, {
      maxInboundRequests: 64,
      maxQueuedRequests: 64,
      inboundTime: { share: 1e-6, burstMs: 0.001 },
      onRequest: () => { const end = performance.now() + 2; while (performance.now() < end) {} },
    });
    peer.receive({ jsonrpc: "2.0", id: 1, method: "m" });
    peer.receive({ jsonrpc: "2.0", id: 2, method: "m" });
    peer.close(new Error("done"));
    console.log("closed");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const { success, stdout } = await within(child.output(), 30_000, "the process's exit");
    assert.ok(success);
    assert.equal(new TextDecoder().decode(stdout).trim(), "closed");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
  }
});

Deno.test("what reading a request cost its caller (accept's costMs) is charged to the share before it runs", () => {
  let ran = 0;
  const peer = new Peer(() => {}, {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    inboundTime: { share: 1e-6, burstMs: 1 },
    onRequest: () => void ran++,
  });
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 1, method: "m" } }, 100, 0.5);
  assert.equal(ran, 1, "within the burst");
  peer.accept({ kind: "request", message: { jsonrpc: "2.0", id: 2, method: "m" } }, 100, 5);
  assert.equal(ran, 1, "its reading spent more than the burst held: it waits");
  peer.close(new Error("done"));
});

// The budget refills as time passes: it may have refilled between the look that queued a request
// and a later look at whether to wait for it (review 73's floods drained a few calls a minute). The
// moment made to come every time, with a clock of the test's own: the request waits with
// its budget short by a hair; once the refill's timer fires, the clock moves a step at each look,
// so the first look finds it still short and the next one refilled. A second look there set no
// timer, and the request waited for ever.
Deno.test("a request queued as the budget refills, between two looks at it, still runs (a clock stepped at each look)", async () => {
  let t = 0;
  let step = 0;
  const clock = () => (t += step);
  const answered: number[] = [];
  let second!: () => void;
  const done = new Promise<void>((resolve) => second = resolve);
  const peer = new Peer((message) => {
    answered.push((message as { id: number }).id);
    if (answered.includes(2)) second();
  }, {
    maxInboundRequests: 64,
    maxQueuedRequests: 64,
    inboundTime: { share: 0.5, burstMs: 1, clock },
    onRequest: () => void (t += 2.002), // a run of 2.002 ms: the budget owes 1.002 after it
  });
  peer.receive({ jsonrpc: "2.0", id: 1, method: "m" });
  // Half the run is earned back as it ran: 0.001 short.
  peer.receive({ jsonrpc: "2.0", id: 2, method: "m" });
  assert.deepEqual(answered, [1]);
  step = 0.0015; // each look earns 0.00075: short by 0.00025 at the first, ahead at the next
  await within(done, 5_000, "the second request's answer");
  peer.close(new Error("done"));
});
