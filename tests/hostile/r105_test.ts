// Review 105, attack on the host's stderr budget as review 103 left it
// (runner/host/stderr_budget.ts) and on how a plugin's stderr reading waits on it (stderr.ts).
import assert from "node:assert/strict";
import { floods, heldClock, heldTimers, readAt, type Step } from "./_stderr_clock.ts";

// A plugin dropped at the host's ceiling skipped its stderr until its own second began again, not
// the host's: its lines in the host's next second were dropped though the host had its whole
// budget then. Seven plugins that took the budget twice over in one second (after a quiet one),
// its own second begun again before the host's, cost an honest plugin (a line every 100 ms)
// 1.2 s of its lines in a row, 0.7 s of them in a second the floods were quiet in (1.6 s at most).
Deno.test("r105: a plugin dropped at the host's stderr ceiling reads again as the host's next second begins", async () => {
  await heldClock(7_200_000, async (clock, at) => {
    // Its reading (its own second) begins at -1400 ms; the host's second at 0, when the floods
    // come, after a quiet one. They take 400 ms of the host's thread: its lines from 400 on.
    clock.now = at(-1400);
    const steps: Step[] = [{ at: at(0), text: "", before: () => floods(7) }];
    for (let ms = 400; ms < 2000; ms += 100) steps.push({ at: at(ms), text: `line ${ms}\n` });
    const lines = await readAt(clock, steps);
    // The floods took the host's ceiling in its second [0, 1000); its lines then are dropped.
    assert.ok(!lines.includes("line 500"), `the ceiling held no line back: ${lines}`);
    // From the host's next second, in which no other plugin wrote, every line is read.
    const next = ["line 1100", "line 1200", "line 1300", "line 1400", "line 1500"];
    assert.deepEqual(next.filter((line) => !lines.includes(line)), [], `lines read: ${lines}`);
  });
});

// The same while the plugin runs: reading waited for the reader's own next second, its pipe full,
// the plugin's writes blocked, past the host's next second. It waits until the host's next second
// now if that comes first. The timers are held: each wait is recorded, and ends at once.
Deno.test("r105: a running plugin dropped at the host's stderr ceiling waits no longer than the host's second", async () => {
  await heldClock(10_800_000, async (clock, at) => {
    clock.now = at(-1400);
    const steps: Step[] = [{ at: at(0), text: "", before: () => floods(7) }];
    for (let ms = 400; ms < 2000; ms += 100) steps.push({ at: at(ms), text: `line ${ms}\n` });
    let lines: string[] = [];
    const waits = await heldTimers(clock, async () => {
      lines = await readAt(clock, steps, { ended: new Promise(() => {}) });
    });
    // Waits begun in the host's second the floods took it all in end as that second does.
    const past = waits.filter((wait) => wait.from < at(1000) && wait.until > at(1000));
    assert.deepEqual(past.map((wait) => wait.until - at(0)), [], "waited past the host's second");
    assert.ok(lines.includes("line 1200"), `lines read: ${lines}`);
  });
});

// Where the drop ended, the first line after it was dropped too, as the rest of the line the drop
// began in, though the drop had ended that line: a plugin that writes a line a write lost one
// more line each time, in the next second (its lines of a second written at once: the first).
Deno.test("r105: the first line after a drop that ended a line is read", async () => {
  await heldClock(14_400_000, async (clock, at) => {
    clock.now = at(-1400);
    const steps: Step[] = [
      { at: at(0), text: "", before: () => floods(7) },
      { at: at(500), text: "dropped a\ndropped b\n" },
      { at: at(1100), text: "next a\nnext b\n" },
    ];
    const lines = await readAt(clock, steps);
    assert.deepEqual(lines, ["next a", "next b"]);
  });
});

// A drop's second that began in a chunk without the end of the line the drop began in was spent:
// the next chunk's check found that second begun already, and skipped to the one after. A line
// written in two writes across the start of a second cost the plugin another second of lines.
Deno.test("r105: a drop whose second begins inside a line ends with that line", async () => {
  await heldClock(18_000_000, async (clock, at) => {
    clock.now = at(0);
    const steps: Step[] = [
      { at: at(100), text: "a\nb\nc\nd, dropped " }, // past its 2 lines a second from "c"
      { at: at(1100), text: "its rest" },
      { at: at(1200), text: " and its end\nnext\n" },
    ];
    const lines = await readAt(clock, steps, { maxLinesPerSecond: 2 });
    assert.deepEqual(lines, ["a", "b", "next"]);
    // Running, it read on to the line's end, and did not wait for another second first.
    const waits = await heldTimers(clock, () => {
      clock.now = at(3000);
      return readAt(clock, steps.map((step) => ({ ...step, at: step.at + 3000 })), {
        maxLinesPerSecond: 2,
        ended: new Promise(() => {}),
      });
    });
    assert.deepEqual(waits.map((wait) => wait.from - at(0)), [3100], "waits began at");
  });
});
