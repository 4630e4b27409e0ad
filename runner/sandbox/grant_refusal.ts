/**
 * The one way a grant is refused: a `TypeError` whose message quotes the
 * entry, cut in its middle when long, so the reason at its end stays (a
 * read path of 120,000 characters was quoted whole, twice; review 165).
 * @module
 */

/** The longest refusal detail shown whole; a longer one keeps its first and last halves of it. */
const SHOWN = 2000;

/**
 * Throws `Cannot grant <detail>`, the detail cut in its middle past
 * {@linkcode SHOWN} characters.
 *
 * @throws {TypeError} always.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseGrant } from "./grant_refusal.ts";
 * assert.throws(
 *   () => refuseGrant(`read "${"x".repeat(100_000)}": no such file or folder`),
 *   (e: TypeError) => e.message.length < 2_100 && e.message.endsWith("no such file or folder"),
 * );
 * ```
 */
export function refuseGrant(detail: string, cause?: unknown): never {
  const shown = detail.length <= SHOWN
    ? detail
    : `${detail.slice(0, SHOWN / 2)}… (${detail.length - SHOWN} characters cut) …${
      detail.slice(-SHOWN / 2)
    }`;
  throw new TypeError(`Cannot grant ${shown}`, cause === undefined ? undefined : { cause });
}
