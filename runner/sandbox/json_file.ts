/**
 * JSON that a plugin's folder or an untrusted checkout wrote (a manifest,
 * a lock), read as `JSON.parse` reads it only once it is within its caps.
 * @module
 */

import {
  type JsonScan,
  neutralize,
  scanJson,
  type StructureLimits,
  valuesIn,
} from "../wire/mod.ts";

// Keeps a byte order mark: the one dropped is dropped above, before the scan. A decoder that
// dropped a second one handed JSON.parse text the scan had judged no JSON, so two marks skipped
// the caps and refuseKeysTwice (review 107: a manifest's narrow "permissions" then a wide one).
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The value in `bytes`, refused (through `refuse`, which throws) past the
 * structure caps `limits` before anything is parsed, or where it is no
 * JSON (V8's message quotes the file: neutralised). A leading byte order
 * mark is dropped first, as `TextDecoder` drops it before `JSON.parse`
 * sees the text: the scan must judge the same text, or its caps are
 * skipped (review 61: a BOM and 30,000 nested arrays overflowed the stack).
 * One mark only: the text is then decoded as it was scanned, a second mark
 * kept (review 107). The scan is returned for {@linkcode refuseKeysTwice}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCapped } from "./json_file.ts";
 * const refuse = (detail: string): never => { throw new TypeError(detail); };
 * const bytes = new TextEncoder().encode('{"a":[1]}');
 * assert.deepEqual(parseCapped(bytes, { maxDepth: 4, maxMembers: 9 }, refuse).raw, { a: [1] });
 * ```
 */
export function parseCapped(
  bytes: Uint8Array,
  limits: StructureLimits,
  refuse: (detail: string) => never,
): { raw: unknown; shape: JsonScan } {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const shape = scanJson(bytes, limits);
  if (shape.verdict === "too-deep") refuse(`is nested deeper than ${limits.maxDepth} levels`);
  if (shape.verdict === "too-many") refuse(`holds more than ${limits.maxMembers} values`);
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    refuse(`is not JSON: ${neutralize((error as Error).message, 200)}`);
  }
  return { raw, shape };
}

/**
 * Refuses a value parsed from `shape`'s bytes that held a key twice in one
 * object: `JSON.parse` keeps the last, silently, while a reader of the file
 * sees the first (review 58: a narrow "permissions" first, a wide one
 * last; review 104, a plugin's lock entry twice).
 *
 * @example
 * ```ts ignore
 * refuseKeysTwice(raw, shape, refuse);
 * ```
 */
export function refuseKeysTwice(
  raw: unknown,
  shape: JsonScan,
  refuse: (detail: string) => never,
): void {
  if (shape.verdict === "ok" && valuesIn(raw) !== shape.values) {
    refuse("holds a key twice in one object");
  }
}
