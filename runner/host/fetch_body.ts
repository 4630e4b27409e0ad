/**
 * Reads a response body for `hostFetch` up to a byte cap: a longer body
 * is cancelled at the cap, never buffered whole.
 * @module
 */

import { CapabilityError } from "../errors.ts";

/** The body as text (UTF-8, invalid bytes replaced); rejects past `maxBytes` or on abort. */
export async function readCapped(
  response: Response,
  maxBytes: number,
  signal: AbortSignal,
): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        throw new CapabilityError(`response body over ${maxBytes} bytes`, { code: "too-large" });
      }
      parts.push(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (error instanceof CapabilityError) throw error;
    throw new CapabilityError(signal.aborted ? "cancelled" : "the response broke off", {
      code: signal.aborted ? "cancelled" : "unreachable",
    });
  }
  parts.push(decoder.decode());
  return parts.join("");
}
