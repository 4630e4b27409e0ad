import assert from "node:assert/strict";
import { LogParser } from "../../runner/host/logs.ts";

Deno.test("LogParser keeps the SDK logger's level, message and fields, neutralised", () => {
  const parser = new LogParser("p");
  const entry = parser.parse(
    JSON.stringify({ level: "warn", msg: "a\x1bb", fields: { k: "\x07", n: 1 } }),
  );
  assert.deepEqual({ ...entry, time: undefined }, {
    plugin: "p",
    level: "warn",
    message: "a\\x1bb",
    fields: { k: "\\x07", n: 1 },
    structured: true,
    source: "plugin",
    time: undefined,
  });
});

// Review 39: a structured line carried plugbox's note as its message, with no backslash.
Deno.test("LogParser: a structured line's message cannot pass for plugbox's own note", () => {
  const parser = new LogParser("p");
  const forged = "(plugbox: stderr went over 2000 lines a second; 1 bytes were dropped)";
  const entry = parser.parse(JSON.stringify({ level: "warn", msg: forged }));
  assert.equal(entry.message, `\\${forged}`);
  assert.equal(entry.source, "plugin");
});

Deno.test("LogParser treats other lines as text, and an error block at error level", () => {
  const parser = new LogParser("p");
  const levels = [
    "plain line",
    "Warning: something old",
    '{"level":"nonsense","msg":"x"}',
    "error: Uncaught (in promise) TypeError: boom",
    '    throw new TypeError("boom");',
    "          ^",
    "    at file:///x.ts:1:1",
    "",
    "Caused by: the cause",
    "back to normal",
  ].map((line) => parser.parse(line).level);
  assert.deepEqual(levels, [
    "info",
    "warn",
    "info",
    "error",
    "error",
    "error",
    "error",
    "error",
    "error",
    "info",
  ]);
});

Deno.test("LogParser bounds what a plugin can put in fields", () => {
  const deep = JSON.parse("[".repeat(20) + "1" + "]".repeat(20));
  const entry = new LogParser("p").parse(
    JSON.stringify({ level: "info", msg: "m", fields: { deep, many: Array(500).fill(1) } }),
  );
  assert.equal((entry.fields!.many as unknown[]).length, 50);
  assert.match(JSON.stringify(entry.fields!.deep), /too deep/);
  // A record of thousands of tiny members is not parsed at all: it is shown as text.
  const wide = JSON.stringify({ level: "error", msg: "m", fields: { many: Array(3000).fill(1) } });
  const text = new LogParser("p").parse(wide);
  assert.equal(text.structured, false);
  assert.equal(text.level, "info");
});
