/**
 * Text of a value that was thrown or answered, read where reading cannot
 * throw. A null-prototype object, a `toString` or a `message` getter that
 * throws, threw again where the value was to be shown or sent: inside an
 * answer's write (review 147: a rejection no one handled, the request's slot
 * never freed) and inside a check's catch (review 145's re-read: past every
 * caller). Shared by both sides, so the wire and the checks read it alike.
 * @module
 */

const NO_TEXT = "a value with no text";

/**
 * `String(value)`, or a plain phrase where that throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textOf } from "./thrown_text.ts";
 * assert.equal(textOf(Object.create(null)), "a value with no text");
 * assert.equal(textOf(new Error("boom")), "Error: boom");
 * ```
 */
export function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return NO_TEXT;
  }
}

/**
 * An error's `message` (any other value's text), or a plain phrase where
 * reading it throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageOf } from "./thrown_text.ts";
 * const bad = new Error();
 * Object.defineProperty(bad, "message", { get: () => { throw bad; } });
 * assert.equal(messageOf(bad), "a value with no text");
 * assert.equal(messageOf(new Error("boom")), "boom");
 * ```
 */
export function messageOf(error: unknown): string {
  try {
    return textOf(error instanceof Error ? error.message : error);
  } catch {
    return NO_TEXT;
  }
}

/**
 * The first line of {@linkcode messageOf}: what a state or an event says of a
 * failure in one line (the rest, a stack or a plugin's log, stays on the error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstLineOf } from "./thrown_text.ts";
 * assert.equal(firstLineOf(new Error("no start\nat line 2")), "no start");
 * ```
 */
export function firstLineOf(error: unknown): string {
  return messageOf(error).split("\n", 1)[0];
}
