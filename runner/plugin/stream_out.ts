/**
 * Plugin side of a streamed result: pulls the implementation's async
 * iterable only while the host has granted credit, sends each item as a
 * `$/item` notification, and ends the generator when the call is cancelled.
 * @module
 */

import type { z } from "npm:zod@^4.1.0";
import {
  type CreditParams,
  ErrorCode,
  type ItemParams,
  type RequestId,
  ResponseError,
  RuntimeMethod,
  utf8Length,
} from "../wire/mod.ts";

/** Sends one message and says how many bytes its line is. */
export type MeasuredSend = (message: unknown) => number;

/** Credit kept for streams not begun yet; past it, the oldest is forgotten. */
const MAX_EARLY_CREDITS = 2048;

/** Streams in progress, by request id, waiting for credit. */
export class StreamCredits {
  #streams = new Map<RequestId, Credit>();
  /**
   * Credit for a stream not begun: its call still waits its turn in the
   * peer's queue, and the host granted its first window as it sent it
   * (review 59: such a stream waited for credit that had come and gone).
   * An ended stream's later credit lands here too, until forgotten; ids
   * are never reused.
   */
  #early = new Map<RequestId, { items: number; bytes: number }>();

  /** Takes a `$/credit` notification. */
  grant(params: unknown): void {
    const { id, items, bytes } = (params ?? {}) as Partial<CreditParams>;
    if (id === undefined) return;
    const more = Number.isSafeInteger(items) && items! > 0 ? items! : 0;
    const moreBytes = Number.isSafeInteger(bytes) && bytes! > 0 ? bytes! : 0;
    const credit = this.#streams.get(id);
    if (credit) return credit.add(more, moreBytes);
    const early = this.#early.get(id) ?? { items: 0, bytes: 0 };
    early.items += more;
    early.bytes += moreBytes;
    this.#early.set(id, early);
    if (this.#early.size > MAX_EARLY_CREDITS) {
      this.#early.delete(this.#early.keys().next().value!);
    }
  }

  /** Pumps `source` as the result of request `id`; resolves with null when it ends. */
  async pump(
    id: RequestId,
    source: AsyncIterable<unknown>,
    item: z.ZodType,
    context: { signal: AbortSignal; send: MeasuredSend; method: string },
  ): Promise<null> {
    const credit = new Credit(context.signal);
    this.#streams.set(id, credit);
    const early = this.#early.get(id);
    if (early) {
      this.#early.delete(id);
      credit.add(early.items, early.bytes);
    }
    const iterator = source[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (let index = 0;; index++) {
        await credit.wait();
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          return null;
        }
        const checked = item.safeParse(next.value);
        if (!checked.success) {
          throw new ResponseError(
            ErrorCode.InvalidResult,
            `Implementation of "${context.method}" yielded an invalid item ${index}: ${
              checked.error.issues[0]?.message
            }`,
            { issues: checked.error.issues.slice(0, 20).map((i) => ({ ...i, path: [index] })) },
          );
        }
        const params: ItemParams = { id, value: next.value };
        credit.spend(context.send({ jsonrpc: "2.0", method: RuntimeMethod.item, params }));
      }
    } finally {
      this.#streams.delete(id);
      // Cancelled, failed or broken off: the generator's finally blocks run.
      if (!finished) await iterator.return?.().catch(() => {});
    }
  }
}

/** The credit of one stream: items and bytes, and a waiter for more. */
class Credit {
  #items = 0;
  #bytes = 0;
  #wake: (() => void) | undefined;
  #signal: AbortSignal;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  add(items: number, bytes: number): void {
    this.#items += items;
    this.#bytes += bytes;
    this.#wake?.();
  }

  spend(bytes: number): void {
    this.#items--;
    this.#bytes -= bytes;
  }

  /** Resolves when an item may be sent; rejects when the call is cancelled. */
  async wait(): Promise<void> {
    while (!(this.#items >= 1 && this.#bytes > 0)) {
      this.#signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.#signal.addEventListener("abort", onAbort, { once: true });
        this.#wake = () => {
          this.#signal.removeEventListener("abort", onAbort);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#signal.throwIfAborted();
  }
}

/** A {@linkcode MeasuredSend} over a plain send: serialises once more to count the bytes. */
export function measured(send: (message: unknown) => void): MeasuredSend {
  return (message) => {
    const bytes = utf8Length(JSON.stringify(message));
    send(message);
    return bytes;
  };
}
