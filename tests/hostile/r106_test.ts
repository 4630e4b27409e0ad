// Review 106, attack on how a plugin's stderr reading resumes after a drop (review 105's
// `toLineEnd`, and its wait until the host's next second) in runner/host/stderr.ts.
import assert from "node:assert/strict";
import { MAX_STDERR_LINE } from "../../runner/host/stderr.ts";
import { floods, heldClock, heldTimers, readAt, type Step } from "./_stderr_clock.ts";

// A drop at the host's ceiling that began inside a line is over for the rest of that line, but
// reading past the line rate in reads still waited until the host's second's end, long over then
// (nothing renews the host's second while reading skips a line's rest): 0 ms, at every read. A
// plugin dropped at the ceiling once, then writing a line without end a byte at a time, was read
// as fast as it wrote, the pacing of review 98 gone (found by seeded random chunkings).
Deno.test("r106: reading the rest of a line dropped at the host's ceiling waits past the line rate", async () => {
  await heldClock(21_600_000, async (clock, at) => {
    // Its own second and the host's begin at -400, as it begins reading; at 0 the floods take the
    // host's ceiling. Its line at 100 is dropped at the ceiling, the drop over at 600 but for that
    // line's rest, which never ends until 3000: a byte every 10 ms, 10 reads from 700 on.
    clock.now = at(-400);
    const steps: Step[] = [
      { at: at(0), text: "", before: () => floods(7) },
      { at: at(100), text: "a\nendless " },
    ];
    for (let ms = 110; ms < 3000; ms += 10) steps.push({ at: at(ms), text: "x" });
    steps.push({ at: at(3000), text: "\nnext\n" });
    let lines: string[] = [];
    const waits = await heldTimers(clock, async () => {
      lines = await readAt(clock, steps, { maxLinesPerSecond: 10, ended: new Promise(() => {}) });
    });
    assert.deepEqual(lines, ["next"]);
    const atOnce = waits.filter((wait) => wait.until === wait.from).map((wait) =>
      wait.from - at(0)
    );
    assert.deepEqual(atOnce, [], "waits that ended at once began at");
  });
});

// The line a drop begins in was dropped whole, but the note counted only its bytes in the chunk
// the drop began in: those read before, held for the line (and those past its 8 KiB), were
// dropped uncounted. Seeded random chunkings of known lines never added up (291 of 600 runs).
Deno.test("r106: a drop's note counts the bytes of its line read before it began", async () => {
  // One line a second: "a" is read, the next line's end begins the drop, within the second (the
  // clock held).
  await heldClock(25_200_000, async (clock, at) => {
    const steps = ["a\n", "x".repeat(MAX_STDERR_LINE + 808), "\n"].map((text) => ({
      at: at(0),
      text,
    }));
    const lines = await readAt(clock, steps, { maxLinesPerSecond: 1 }, true);
    assert.equal(lines[0], "a");
    assert.match(lines[1], /; 9001 bytes were dropped\)$/);
    assert.equal(lines.length, 2);
  });
});
