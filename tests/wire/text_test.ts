import assert from "node:assert/strict";
import { neutralize, terminalJson } from "../../runner/wire/text.ts";

Deno.test("neutralize() escapes everything not printable on one line, and only that", () => {
  const cases: [string, string][] = [
    ["plain text, punctuation: ok!", "plain text, punctuation: ok!"],
    ["\x1b[2J\x07\x9b", "\\x1b[2J\\x07\\x9b"],
    ["line\nforged\r", "line\\x0aforged\\x0d"],
    ["tab\there", "tab\\x09here"],
    ["invoice\u202egpj.exe", "invoice\\u{202e}gpj.exe"],
    [
      "\u2066isolate\u2069 \u200bzero\u200dwidth\ufeff",
      "\\u{2066}isolate\\u{2069} \\u{200b}zero\\u{200d}width\\u{feff}",
    ],
    ["sep\u2028line\u2029para", "sep\\u{2028}line\\u{2029}para"],
    ["lone \ud800 surrogate", "lone \\u{d800} surrogate"],
    ["tag \u{e0041} smuggled", "tag \\u{e0041} smuggled"],
    ["café, 日本語, emoji 🙂, math ∑", "café, 日本語, emoji 🙂, math ∑"],
  ];
  for (const [input, shown] of cases) assert.equal(neutralize(input), shown, JSON.stringify(input));
  // Idempotent: neutral text passes unchanged, so applying it twice is harmless.
  for (const [, shown] of cases) assert.equal(neutralize(shown), shown);
  assert.equal(neutralize("x".repeat(10), 4), "xxxx… (6 more characters)");
});

Deno.test("neutralize() escapes a megabyte of hostile text whole", () => {
  const hostile = "\u202e\x1b\n".repeat(350_000);
  const shown = neutralize(hostile, hostile.length);
  assert.equal(shown.length, 350_000 * (8 + 4 + 4));
});

Deno.test("terminalJson() keeps JSON valid and escapes what a terminal would obey", () => {
  const value = { text: "a\u202eb\u2028c\x7f\x85", n: 1, tag: "\u{e0041}" };
  const shown = terminalJson(value, 2);
  assert.deepEqual(JSON.parse(shown), value);
  assert.doesNotMatch(shown, /[\u202e\u2028\x7f\x85]/);
  assert.match(shown, /\\u202e/);
  assert.equal(terminalJson(undefined), "null");
});
