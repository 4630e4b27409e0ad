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

/** Streams in progress, by request id, waiting for credit. */
export class StreamCredits {
  #streams = new Map<RequestId, Credit>();

  /** Takes a `$/credit` notification; credit for an unknown stream is ignored (it ended). */
  grant(params: unknown): void {
    const { id, items, bytes } = (params ?? {}) as Partial<CreditParams>;
    if (id === undefined) return;
    const credit = this.#streams.get(id);
    if (!credit) return;
    credit.add(
      Number.isSafeInteger(items) && items! > 0 ? items! : 0,
      Number.isSafeInteger(bytes) && bytes! > 0 ? bytes! : 0,
    );
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
