/**
 * Neutralises text that came from a plugin (or its folder) before it can
 * reach a terminal or a log: everything that is not printable on one line
 * becomes a visible escape, and length is capped. It is an allow-list of
 * printable characters, not a list of bad ones: controls, newlines, bidi
 * overrides and isolates, zero-width and other format characters, line and
 * paragraph separators, lone surrogates, private-use, unassigned and
 * default-ignorable code points are all shown escaped (THREATS T11, N1).
 * @module
 */

// What is not printable on one line, by Unicode category and property. The
// /u flag matches whole code points, so a lone surrogate is one match.
const UNPRINTABLE =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;
// The common case, printable ASCII only, skips the replace entirely.
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function escape(char: string): string {
  const code = char.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * Makes untrusted text safe to print on one line: every character that is
 * not printable (ESC, so no ANSI sequence survives; newlines, so no line
 * can be forged; U+202E and the other bidi controls, so nothing is shown
 * reordered) appears as `\xNN` or `\u{NNNN}`, and text longer than
 * `maxLength` is cut with a marker saying how much was dropped. Linear in
 * the length, and idempotent: neutralised text passes unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { neutralize } from "./text.ts";
 * assert.equal(neutralize("\x1b[31mred"), "\\x1b[31mred");
 * assert.equal(neutralize("a\nb\u202ec"), "a\\x0ab\\u{202e}c");
 * ```
 */
export function neutralize(text: string, maxLength = 4096): string {
  const cut = text.length > maxLength;
  const head = cut ? text.slice(0, maxLength) : text;
  const safe = PRINTABLE_ASCII.test(head) ? head : head.replace(UNPRINTABLE, escape);
  return cut ? `${safe}… (${text.length - maxLength} more characters)` : safe;
}

function jsonEscape(char: string): string {
  let out = "";
  for (let i = 0; i < char.length; i++) {
    out += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

/**
 * `JSON.stringify` for a terminal: the same JSON, with every character
 * {@linkcode neutralize} would escape written as a `\uNNNN` escape instead
 * (JSON leaves DEL, C1 controls, bidi controls and line separators raw), so
 * the output is still valid JSON and can no longer drive a terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { terminalJson } from "./text.ts";
 * assert.equal(terminalJson("a\u202eb"), '"a\\u202eb"');
 * assert.equal(JSON.parse(terminalJson("a\u202eb")), "a\u202eb");
 * ```
 */
export function terminalJson(value: unknown, indent?: number): string {
  const text = JSON.stringify(value, null, indent) ?? "null";
  // Outside strings JSON has only ASCII punctuation, digits, letters and
  // whitespace; newlines there come from `indent` and are kept.
  return text.replace(UNPRINTABLE, (char) => char === "\n" ? char : jsonEscape(char));
}
