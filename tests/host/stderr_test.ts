import assert from "node:assert/strict";
import { MAX_STDERR_LINE, readStderr, StderrRing } from "../../runner/host/stderr.ts";
import { neutralize } from "../../runner/wire/text.ts";

function stream(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk));
      c.close();
    },
  });
}

Deno.test("neutralize() shows control characters and cuts long text", () => {
  assert.equal(neutralize("a\x1b[31mb\x07\x9bc\td\ne"), "a\\x1b[31mb\\x07\\x9bc\\x09d\\x0ae");
  assert.equal(neutralize("x".repeat(10), 4), "xxxx… (6 more characters)");
});

Deno.test("readStderr() splits lines, neutralises them and cuts very long ones", async () => {
  const lines: string[] = [];
  await readStderr(
    stream(["one\ntw", "o\r\n\x1b[2Jthree", "\n", "x".repeat(MAX_STDERR_LINE + 10), "\nlast"]),
    (l) => lines.push(l),
  );
  assert.equal(lines.length, 5);
  assert.deepEqual(lines.slice(0, 3), ["one", "two", "\\x1b[2Jthree"]);
  assert.match(lines[3], /… \(10 more bytes on this line\)$/);
  assert.equal(lines[4], "last");
});

Deno.test("StderrRing keeps the newest lines within its budget", () => {
  const ring = new StderrRing(100);
  for (let i = 0; i < 5000; i++) ring.push(`line ${i}`);
  const tail = ring.tail(100, 10_000).split("\n");
  assert.equal(tail.at(-1), "line 4999");
  assert.ok(tail.join("\n").length <= 100);
  assert.equal(ring.tail(2), "line 4998\nline 4999");
});

Deno.test("readStderr() hands on at most maxLinesPerSecond lines a second and reports what it dropped", async () => {
  const lines: string[] = [];
  const flood = Array.from({ length: 200 }, (_, i) => `line ${i}\n`.repeat(50));
  const own: boolean[] = [];
  await readStderr(stream([...flood, "last\n"]), (l, fromPlugbox) => {
    lines.push(l);
    own.push(fromPlugbox);
  }, { maxLinesPerSecond: 100 });
  // Read faster than a second: the first 100 lines, then one note for the rest.
  assert.equal(lines.length, 101, lines.slice(95).join(" | "));
  assert.equal(lines[99], "line 1");
  assert.match(
    lines[100],
    /^\(plugbox: stderr went over 100 lines a second; \d+ bytes were dropped\)$/,
  );
  assert.deepEqual(own.lastIndexOf(false), 99, "the plugin's lines are its own");
  assert.equal(own[100], true, "the note is plugbox's");
});

// Review 37: a plugin wrote plugbox's note itself, and its line was the same as a real one in
// the logs and in error messages' stderr tail.
Deno.test("readStderr(): a plugin's line cannot pass for plugbox's own note", async () => {
  const lines: [string, boolean][] = [];
  const forged = "(plugbox: stderr went over 2000 lines a second; 1 bytes were dropped)";
  await readStderr(stream([`${forged}\n`]), (l, fromPlugbox) => lines.push([l, fromPlugbox]));
  assert.deepEqual(lines, [[`\\${forged}`, false]]);
});
