/**
 * Neutralises text that came from a plugin before it can reach a terminal
 * or a log: control characters become visible escapes, length is capped.
 * @module
 */

// C0 controls except tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI).
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

function escape(char: string): string {
  return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/**
 * Makes untrusted text safe to print: every control character (ESC
 * included, so no ANSI sequence survives) is shown as `\xNN`, and text
 * longer than `maxLength` is cut with a marker saying how much was dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { neutralize } from "./text.ts";
 * assert.ok(neutralize("\x1b[31mred") === "\\x1b[31mred");
 * ```
 */
export function neutralize(text: string, maxLength = 4096): string {
  const cut = text.length > maxLength;
  const head = cut ? text.slice(0, maxLength) : text;
  const safe = head.replace(CONTROL, escape);
  return cut ? `${safe}… (${text.length - maxLength} more characters)` : safe;
}
