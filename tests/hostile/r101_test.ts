// Review 101: an attack on reviews 99's and 100's fixes (the lines calls wait in, the host-wide
// budget of stderr lines). Each test failed on the code it was written against (7fdb5b3).
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { callerOn } from "../host/_caller.ts";
import { readStderr, STDERR_MS_PER_SECOND } from "../../runner/host/stderr.ts";
import {
  chargeHost,
  hostAllows,
  joinHostBudget,
  STDERR_HOST_MS_PER_SECOND,
} from "../../runner/host/stderr_budget.ts";
import { within } from "../_helpers.ts";

/** A caller on an in-memory peer whose plugin answers only when told to; `sent` holds what went out. */
function held(maxInFlight: number) {
  const sent: { id: number; method: string }[] = [];
  const { peer, caller } = callerOn((message) => {
    if ("method" in message && "id" in message && message.id !== undefined) {
      sent.push({ id: message.id as number, method: message.method });
    }
  }, maxInFlight);
  const answer = (id: number) => peer.receive({ jsonrpc: "2.0", id, result: id });
  const end = () => {
    peer.close(new Error("done"));
    caller.clear();
  };
  return { caller, sent, answer, end };
}

// A queued call handed its slot resumes a microtask later. Its caller's abort in the task that
// freed the slot (a handler of the answer, of an event, of the exit) reached the line's own signal,
// whose listener the hand-over had taken off: the abort was lost, the call sent to the plugin all
// the same, and it settled only at its deadline, with a TimeoutError.
Deno.test("r101: a call aborted as its turn in line comes is not sent, and rejects with the abort's reason", async () => {
  const { caller, sent, answer, end } = held(1);
  const first = caller.call("first", []);
  const stop = new AbortController();
  const second = caller.call("second", [], { signal: stop.signal, timeout: 60_000 })
    .then(() => "answered", (error: Error) => error.message);
  answer(sent[0].id); // frees the slot: the second call is handed it
  stop.abort(new Error("user gave up")); // in the same task
  assert.equal(await first, sent[0].id);
  assert.equal(await within(second, 2000, "the aborted call"), "user gave up");
  assert.deepEqual(sent.map((s) => s.method), ["first"], "the aborted call went out");
  // Its slot came back: a third call goes out at once.
  const third = caller.call("third", []);
  assert.deepEqual(sent.map((s) => s.method), ["first", "third"]);
  answer(sent[1].id);
  await third;
  end();
});

// A call without a signal whose deadline passed in line was marked and skipped when its turn
// came, but only then: behind a plugin that holds its `maxInFlight` calls unanswered (answering
// pings), every call that timed out stayed in the line, its arguments with it, for as long as the
// plugin held them (20,000 calls, each with 4 KiB of arguments: 138 MiB kept, growing with every call made).
Deno.test("r101: calls whose deadline passed in line behind a plugin that holds its calls are not kept", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const { caller, sent, answer, end } = held(1);
  const first = caller.call("held", []);
  gc();
  const before = Deno.memoryUsage().heapUsed;
  for (let round = 0; round < 10; round++) {
    const expired = Array.from(
      { length: 2000 },
      (_, i) =>
        caller.call("m", [Array.from({ length: 512 }, () => round * 2000 + i)], { timeout: 0 })
          .catch(() => {}),
    );
    await within(Promise.all(expired), 5000, "the calls' deadlines");
  }
  gc();
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.ok(
    grown < 16 * 2 ** 20,
    `20,000 calls timed out kept ${(grown / 2 ** 20).toFixed(0)} MiB`,
  );
  answer(sent[0].id);
  await first;
  assert.deepEqual(sent.map((s) => s.method), ["held"], "no call that timed out went out");
  end();
});

/** A stream the test writes lines to, one chunk each, and ends. */
function pushed(): { stream: ReadableStream<Uint8Array>; write(text: string): void; end(): void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const encoder = new TextEncoder();
  return {
    stream,
    write: (text) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  };
}

// Every plugin's stderr lines shared 200 ms of the host's thread a second, first come first
// served: plugins of control characters took it all at the start of each second (each within its
// own 100 ms), and an honest plugin's lines were dropped for the rest of it, its reading then
// waiting a second at a time. Two such plugins and an honest one writing 1,000 plain lines a
// second, as processes: it lost 78% of its lines and its writes blocked for up to a second (its
// calls wait on them). A plugin under its fair share of the budget is never dropped now. Three
// floods here, in this process, and an honest reader of a line every 5 ms.
Deno.test("r101: plugins flooding stderr never drop an honest plugin's lines for the host's budget", async () => {
  const line = new Uint8Array(8192).fill(1); // control characters, each escaped: 0.7 ms a line
  line[8191] = 0x0a;
  let flooding = true;
  const flood = () =>
    new ReadableStream<Uint8Array>({ pull: (c) => flooding ? c.enqueue(line) : c.close() });
  const never = new Promise<never>(() => {});
  const floods = Array.from({ length: 3 }, () => readStderr(flood(), () => {}, { ended: never }));
  // And 20 plugins that say nothing: the share is the budget over those whose lines come (50 ms
  // here), not over every plugin reading (9 ms, which the honest one's 20 ms would pass).
  const quiet = Array.from({ length: 20 }, () => pushed());
  const quietReading = quiet.map((q) => readStderr(q.stream, () => {}, { ended: never }));
  const honest = pushed();
  const got: string[] = [];
  const notes: string[] = [];
  const reading = readStderr(honest.stream, (text, own) => {
    (own ? notes : got).push(text);
    const until = performance.now() + 0.1; // an onLog's work: 20 ms of the host's time a second
    while (performance.now() < until) {
      // its cost
    }
  }, { ended: never });
  let written = 0;
  const writing = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      honest.write(`line ${written++}\n`);
      if (written < 200) return;
      clearInterval(timer);
      resolve();
    }, 5);
  });
  try {
    await within(writing, 10_000, "the honest plugin's 200 lines");
  } finally {
    flooding = false;
    honest.end();
    for (const q of quiet) q.end();
  }
  await within(Promise.all([reading, ...floods, ...quietReading]), 10_000, "the readers' end");
  assert.deepEqual(notes, [], "the honest plugin's lines were dropped");
  assert.equal(got.length, 200);
});

// The fair share counts the plugins whose lines came this second, not every plugin reading: a
// share kept for each quiet one (review 101's first version) left a busy honest plugin among 20
// quiet ones about 10 ms of the host's time a second, its lines past that dropped, on an idle
// host. It keeps its own 100 ms. Lines that each cost 2 ms to hand on (as an onLog's work would),
// beside 20 readers that say nothing: how many are handed on before the first drop.
Deno.test("r101: a plugin busy on stderr among quiet ones keeps its own budget, not a share of theirs", async () => {
  const never = new Promise<never>(() => {});
  const quiet = Array.from({ length: 20 }, () => pushed());
  const quietReading = quiet.map((q) => readStderr(q.stream, () => {}, { ended: never }));
  const busy = pushed();
  let handed = 0;
  const notes: string[] = [];
  const reading = readStderr(busy.stream, (text, own) => {
    if (own) return void notes.push(text);
    handed++;
    const until = performance.now() + 2;
    while (performance.now() < until) {
      // the line's cost on the host's thread
    }
  }, { ended: never });
  busy.write("line\n".repeat(150));
  busy.end();
  for (const q of quiet) q.end();
  await within(Promise.all([reading, ...quietReading]), 10_000, "the readers' end");
  // Its own 100 ms: about 50 lines; a share of 200 ms over 21 readers: about 5.
  assert.ok(handed >= 30, `${handed} lines handed on; ${notes[0]}`);
});

// Shares are the budget over the plugins whose lines came this second, so plugins that come one
// after another each get a larger share than the last will have: 100 ms, 100, 67, 50, … in all
// 200 ms times the harmonic number of their count, 70% of the host's thread for 30 plugins and
// 94% for 100, each within its share. Every plugin's lines stop at twice the budget. The clock is
// held still (one second), and each plugin takes 1 ms lines until refused or at its own 100 ms.
Deno.test("r101: plugins that come one after another cannot add their shares up past twice the host's budget", () => {
  const realNow = Date.now;
  const now = realNow() + 10_000; // a second of its own, begun here
  Date.now = () => now;
  let total = 0;
  try {
    for (let k = 0; k < 30; k++) {
      const share = joinHostBudget();
      for (let own = 0; own < STDERR_MS_PER_SECOND && hostAllows(share); own++) {
        chargeHost(share, 1);
        total++;
      }
    }
  } finally {
    Date.now = realNow;
  }
  assert.ok(total <= 2 * STDERR_HOST_MS_PER_SECOND, `${total} ms of the host's second`);
});

// The line budgets' seconds began when Date.now() was a second past the last: a clock set back (an
// NTP step, a resumed VM) held every budget spent, and reading that waited for the next second
// waited the whole step back (an hour back: an hour), the plugin blocked on its stderr meanwhile.
Deno.test("r101: a clock set back an hour does not stop a plugin's stderr for an hour", async () => {
  const realNow = Date.now;
  const back = realNow() - 3_600_000;
  const stop = new AbortController();
  const plugin = pushed();
  const got: string[] = [];
  const seen = Promise.withResolvers<void>();
  const reading = readStderr(plugin.stream, (text, own) => {
    if (own) return;
    got.push(text);
    if (text === "last") seen.resolve();
  }, { maxLinesPerSecond: 5, ended: new Promise<never>(() => {}), signal: stop.signal });
  try {
    plugin.write("first\n");
    await within(new Promise<void>((resolve) => queueMicrotask(resolve)), 1000, "a turn");
    Date.now = () => back + (performance.now() - performance.timeOrigin); // an hour back, going on
    for (let i = 0; i < 12; i++) plugin.write(`line ${i}\n`); // past 5 a second: reading waits
    plugin.write("last\n");
    await within(seen.promise, 5000, "the line written after a wait");
  } finally {
    Date.now = realNow;
    plugin.end();
    stop.abort();
    await reading;
  }
  assert.equal(got.at(-1), "last");
});

// The same at random: calls with and without one of a few shared signals, answers, aborts, and
// answers with an abort in the same task, interleaved; replay a failure with PLUGBOX_R101_SEED.
Deno.test("r101: calls, answers and aborts interleaved at random: each call settles once, none sent once aborted", async () => {
  const seed = Number(Deno.env.get("PLUGBOX_R101_SEED") ?? Date.now() % 1_000_000);
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const maxInFlight = 3;
  const signals: (AbortSignal | undefined)[] = [];
  const wrongs: string[] = [];
  let inFlight = 0;
  const out: number[] = []; // ids sent, not yet answered
  const { peer, caller } = callerOn((message) => {
    if (!("method" in message) || !("id" in message) || message.id === undefined) return;
    const n = Number(message.method.slice(1));
    if (signals[n]?.aborted) wrongs.push(`call ${n} sent after its abort`);
    if (++inFlight > maxInFlight) wrongs.push(`${inFlight} calls in flight`);
    out.push(message.id as number);
  }, maxInFlight);
  const answerOne = () => {
    if (out.length === 0) return;
    const [id] = out.splice(Math.floor(random() * out.length), 1);
    inFlight--;
    peer.receive({ jsonrpc: "2.0", id, result: id });
  };
  let controllers = [new AbortController(), new AbortController()];
  const settled = new Map<number, number>();
  const calls: Promise<void>[] = [];
  for (let n = 0; n < 3000; n++) {
    const pick = random();
    const controller = pick < 0.7 ? controllers[Math.floor(random() * 2)] : undefined;
    signals[n] = controller?.signal;
    const count = () => void settled.set(n, (settled.get(n) ?? 0) + 1);
    calls.push(caller.call(`m${n}`, [], { signal: controller?.signal }).then(count, count));
    const step = random();
    if (step < 0.3) answerOne();
    else if (step < 0.45) {
      answerOne(); // frees a slot, and in the same task the signal of whoever it went to aborts
      const i = Math.floor(random() * 2);
      controllers[i].abort(new Error("gave up"));
      controllers = controllers.map((c, j) => j === i ? new AbortController() : c);
    }
    if (random() < 0.3) await Promise.resolve(); // a turn: the granted ones resume
  }
  for (let turn = 0; turn < 10_000 && (out.length > 0 || settled.size < calls.length); turn++) {
    answerOne();
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    if (wrongs.length > 0) break;
  }
  try {
    assert.deepEqual(wrongs.slice(0, 5), [], `seed ${seed}`);
    await within(Promise.all(calls), 5000, "every call");
    assert.ok([...settled.values()].every((times) => times === 1), `seed ${seed}: settled once`);
  } finally {
    peer.close(new Error("done"));
    caller.clear();
  }
});
