/**
 * Joins byte chunks: what the line reader, the stderr reader and the helper
 * runner all need once a line or an output is complete.
 * @module
 */

/**
 * One array holding `parts` in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./bytes.ts";
 * assert.deepEqual(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * `view`, or a copy of it where it is a small part of a larger buffer. A
 * stream's chunk is often a view into a buffer of its own (each read of a
 * child's stdout or stderr is one into 64 KiB), so a reader that kept many
 * small views would keep their buffers: 64 KiB for every byte a plugin
 * drips. What is kept this way stays within twice the bytes it holds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keepable } from "./bytes.ts";
 * const read = new Uint8Array(65536).subarray(0, 1);
 * assert.equal(keepable(read).buffer.byteLength, 1);
 * ```
 */
export function keepable(view: Uint8Array): Uint8Array {
  return view.byteLength * 2 < view.buffer.byteLength ? view.slice() : view;
}

/**
 * `buffer` with room for `needed` bytes and its first `used` kept: `buffer`
 * itself where it has the room, else a new one of at least twice its size
 * (and 256 bytes), never past `cap`. A buffer filled a byte per read is then
 * copied a number of times logarithmic in its size, and holds under twice
 * what it must.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withRoom } from "./bytes.ts";
 * const small = new Uint8Array([1, 2]);
 * const big = withRoom(small, 2, 3);
 * assert.equal(big.length, 256);
 * assert.deepEqual(big.subarray(0, 2), small);
 * assert.equal(withRoom(big, 2, 200), big);
 * ```
 */
export function withRoom(
  buffer: Uint8Array<ArrayBuffer>,
  used: number,
  needed: number,
  cap = Infinity,
): Uint8Array<ArrayBuffer> {
  if (needed <= buffer.length) return buffer;
  const grown = new Uint8Array(Math.min(cap, Math.max(needed, buffer.length * 2, 256)));
  grown.set(buffer.subarray(0, used));
  return grown;
}
