// Review 106, attack on how a plugin's stderr reading resumes after a drop (review 105's
// `toLineEnd`, and its wait until the host's next second) in runner/host/stderr.ts.
import assert from "node:assert/strict";
import { MAX_STDERR_LINE, readStderr } from "../../runner/host/stderr.ts";
import { chargeHost, hostAllows, joinHostBudget } from "../../runner/host/stderr_budget.ts";

/** Plugins whose lines of a millisecond each take the host's stderr budget, in turn. */
function floods(count: number): void {
  const shares = Array.from({ length: count }, () => joinHostBudget());
  for (const share of shares) {
    for (let own = 0; own < 100 && hostAllows(share); own++) chargeHost(share, 1);
  }
}

// A drop at the host's ceiling that began inside a line is over for the rest of that line, but
// reading past the line rate in reads still waited until the host's second's end, long over then
// (nothing renews the host's second while reading skips a line's rest): 0 ms, at every read. A
// plugin dropped at the ceiling once, then writing a line without end a byte at a time, was read
// as fast as it wrote, the pacing of review 98 gone (found by seeded random chunkings).
Deno.test("r106: reading the rest of a line dropped at the host's ceiling waits past the line rate", async () => {
  const realNow = Date.now;
  const realTimeout = globalThis.setTimeout;
  const clock = { now: realNow() + 21_600_000 };
  const start = clock.now;
  // Its own second and the host's begin at -400, as it begins reading; at 0 the floods take the
  // host's ceiling. Its line at 100 is dropped at the ceiling, the drop over at 600 but for that
  // line's rest, which never ends until 3000: a byte every 10 ms, 10 reads from 700 on.
  const steps: { at: number; text: string; before?: () => void }[] = [
    { at: 0, text: "", before: () => floods(7) },
    { at: 100, text: "a\nendless " },
  ];
  for (let ms = 110; ms < 3000; ms += 10) steps.push({ at: ms, text: "x" });
  steps.push({ at: 3000, text: "\nnext\n" });
  const encoder = new TextEncoder();
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const step = steps[next++];
      if (!step) return controller.close();
      clock.now = start + step.at;
      step.before?.();
      controller.enqueue(encoder.encode(step.text));
    },
  }, { highWaterMark: 0 });
  // The timers are held: each wait is recorded, and ends at once.
  const waits: { from: number; ms: number }[] = [];
  const lines: string[] = [];
  Date.now = () => clock.now;
  globalThis.setTimeout = ((run: () => void, ms: number) => {
    waits.push({ from: clock.now - start, ms });
    return realTimeout(run, 0);
  }) as typeof setTimeout;
  try {
    clock.now = start - 400;
    await readStderr(stream, (line, fromPlugbox) => {
      if (!fromPlugbox) lines.push(line);
    }, { maxLinesPerSecond: 10, ended: new Promise(() => {}) });
  } finally {
    globalThis.setTimeout = realTimeout;
    Date.now = realNow;
  }
  assert.deepEqual(lines, ["next"]);
  const atOnce = waits.filter((wait) => wait.ms === 0).map((wait) => wait.from);
  assert.deepEqual(atOnce, [], "waits that ended at once began at");
});

// The line a drop begins in was dropped whole, but the note counted only its bytes in the chunk
// the drop began in: those read before, held for the line (and those past its 8 KiB), were
// dropped uncounted. Seeded random chunkings of known lines never added up (291 of 600 runs).
Deno.test("r106: a drop's note counts the bytes of its line read before it began", async () => {
  const chunks = ["a\n", "x".repeat(MAX_STDERR_LINE + 808), "\n"];
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks.shift();
      if (chunk === undefined) return controller.close();
      controller.enqueue(encoder.encode(chunk));
    },
  }, { highWaterMark: 0 });
  const lines: string[] = [];
  // One line a second: "a" is read, the next line's end begins the drop, within the second (the
  // clock held).
  const realNow = Date.now;
  const now = realNow() + 25_200_000;
  Date.now = () => now;
  try {
    await readStderr(stream, (line) => lines.push(line), { maxLinesPerSecond: 1 });
  } finally {
    Date.now = realNow;
  }
  assert.equal(lines[0], "a");
  assert.match(lines[1], /; 9001 bytes were dropped\)$/);
  assert.equal(lines.length, 2);
});
