/**
 * Reads a response body for `hostFetch` up to a byte cap: a longer body
 * is cancelled at the cap, never buffered whole.
 * @module
 */

import { CapabilityError } from "../errors.ts";
import { withRoom } from "../wire/mod.ts";

/**
 * The body as text (UTF-8, invalid bytes replaced); rejects past `maxBytes`
 * or on abort: code "timeout" where `deadline` ended it, else "cancelled".
 */
export async function readCapped(
  response: Response,
  maxBytes: number,
  signal: AbortSignal,
  deadline?: { signal: AbortSignal; ms: number },
): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  // One buffer, grown by doubling and decoded once: a server dripping its body a byte per read
  // costs at most twice the cap, where a string or a view per read would cost far more per byte.
  let body = new Uint8Array(Math.min(maxBytes, 64 * 1024));
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.byteLength > maxBytes) {
        throw new CapabilityError(`response body over ${maxBytes} bytes`, { code: "too-large" });
      }
      body = withRoom(body, total, total + value.byteLength, maxBytes);
      body.set(value, total);
      total += value.byteLength;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (error instanceof CapabilityError) throw error;
    if (deadline?.signal.aborted) {
      throw new CapabilityError(`no answer within ${deadline.ms} ms`, { code: "timeout" });
    }
    throw new CapabilityError(signal.aborted ? "cancelled" : "the response broke off", {
      code: signal.aborted ? "cancelled" : "unreachable",
    });
  }
  return new TextDecoder().decode(body.subarray(0, total));
}
