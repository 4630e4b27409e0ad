/**
 * The host's end of a streamed result: an async iterator over the items
 * the plugin sends, with credit-based flow control (the plugin may have at
 * most one window of items and bytes granted and not consumed, so a slow
 * consumer bounds both sides' memory). An item is read (parsed, when long)
 * and validated when it is handed to the consumer, not on arrival: what the
 * host holds for a consumer that has not read yet is the items' lines, not
 * values built from them, which cost up to 20 times their bytes (review 90:
 * four streams of one 2.8 MiB line of `{}` each held 239 MiB of heap).
 * @module
 */

import type { ItemStream } from "../contract.ts";
import { PluginError } from "../errors.ts";
import type { CallChannel, StreamWindow } from "./call_channels.ts";

/** Items read past the queue's front before it is copied without them (at most half of it). */
const COMPACT_AFTER = 1024;

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

interface Ending {
  error?: unknown;
  /** Items still queued are dropped (a cancel, a deadline): the end is now. */
  now: boolean;
}

/**
 * One streaming call's items, as the typed API returns them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostItemStream } from "./item_stream.ts";
 *
 * const stream = new HostItemStream<number>((value) => value as number, new AbortController());
 * let grant = (_items: number, _bytes: number) => {};
 * stream.open((items, bytes) => grant(items, bytes), { items: 4, bytes: 1024 });
 * stream.item(() => 1, 10);
 * stream.settle(Promise.resolve(null));
 * const seen: number[] = [];
 * for await (const n of stream) seen.push(n);
 * assert.deepEqual(seen, [1]);
 * ```
 */
export class HostItemStream<T> implements ItemStream<T>, CallChannel {
  #queue: { read: () => unknown; bytes: number }[] = [];
  #head = 0;
  #queuedBytes = 0;
  #itemsLeft = 0;
  #bytesLeft = 0;
  #window: StreamWindow = { items: 0, bytes: 0 };
  #grant: ((items: number, bytes: number) => void) | undefined;
  #ending: Ending | undefined;
  #finished = false;
  #waiter: Waiter<T> | undefined;
  #validate: (value: unknown) => T;
  #cancel: AbortController;
  #charge: ((ms: number) => void) | undefined;

  /**
   * `validate` throws for an invalid item; aborting `cancel` cancels the call; `charge` is told
   * what reading and validating each item took.
   */
  constructor(
    validate: (value: unknown) => T,
    cancel: AbortController,
    charge?: (ms: number) => void,
  ) {
    this.#validate = validate;
    this.#cancel = cancel;
    this.#charge = charge;
  }

  get buffered(): { items: number; bytes: number } {
    return { items: this.#queue.length - this.#head, bytes: this.#queuedBytes };
  }

  /** Ends the stream when the call settles: its answer, an error, a deadline, an abort. */
  settle(answer: Promise<unknown>): void {
    answer.then(
      () => this.#end({ now: false }),
      (error) => this.#end({ error, now: !(error instanceof PluginError) }),
    );
  }

  open(grant: (items: number, bytes: number) => void, window: StreamWindow): void {
    this.#grant = grant;
    this.#window = window;
    this.#replenish();
  }

  /**
   * One item of `bytes` on the wire, read (parsed, when its line was not
   * short) by `read` when its turn comes; false when it came without credit.
   */
  item(read: () => unknown, bytes: number): boolean {
    if (this.#itemsLeft < 1 || this.#bytesLeft <= 0) return false;
    this.#itemsLeft--;
    this.#bytesLeft -= bytes;
    // Items in flight when the stream ended are within credit, and dropped.
    if (this.#ending) return true;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      this.#handOver(read, waiter);
      return true;
    }
    this.#queue.push({ read, bytes });
    this.#queuedBytes += bytes;
    return true;
  }

  /** Reads and validates an item for `waiter`; an invalid one ends the stream with its error. */
  #handOver(read: () => unknown, waiter: Waiter<T>): void {
    // Timed: an item's parse and check cost what its shape makes them (an object of 999,000 keys,
    // 0.6 to 2 s), and its consumer takes the next as soon as it is read. Untimed, one plugin's
    // stream cut 10 honest neighbours' calls to 0.05 to 0.10 of a control's (review 157). Short
    // ones too: an answer under 1 KiB comes once a call the host made, an item as often as the
    // plugin sends it, and items of 1,000 bytes, each 75 us to check, cut 5 honest neighbours'
    // calls to 0.04 to 0.08 of a control's where items of 1,100 bytes, timed, left 0.60 to 0.87
    // (review 158).
    const began = this.#charge ? performance.now() : -1;
    let checked: T;
    try {
      checked = this.#validate(read());
    } catch (error) {
      if (began >= 0) this.#charge!(performance.now() - began);
      // The items queued behind it are dropped: the stream's end is this error.
      this.#ending = { error, now: true };
      this.#drop();
      this.#cancel.abort(error);
      this.#finish(waiter);
      return;
    }
    if (began >= 0) this.#charge!(performance.now() - began);
    waiter.resolve({ value: checked, done: false });
    this.#replenish();
  }

  /** Sends more credit once half a window (of items or bytes) has been consumed. */
  #replenish(): void {
    if (this.#ending || !this.#grant) return;
    const queued = this.#queue.length - this.#head;
    const items = this.#window.items - (this.#itemsLeft + queued);
    const bytes = this.#window.bytes - (this.#bytesLeft + this.#queuedBytes);
    if (items * 2 < this.#window.items && bytes * 2 < this.#window.bytes) return;
    const giveItems = Math.max(0, items);
    const giveBytes = Math.max(0, bytes);
    this.#itemsLeft += giveItems;
    this.#bytesLeft += giveBytes;
    this.#grant(giveItems, giveBytes);
  }

  #end(ending: Ending): void {
    if (this.#ending) return;
    this.#ending = ending;
    if (ending.now) this.#drop();
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      this.#finish(waiter);
    }
  }

  #drop(): void {
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  #finish(waiter: Waiter<T>): void {
    const error = this.#ending?.error;
    const first = !this.#finished;
    this.#finished = true;
    if (first && error !== undefined) waiter.reject(error);
    else waiter.resolve({ value: undefined, done: true });
  }

  /** The next item, waiting for it if none is queued. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#queue.length) {
      const { read, bytes } = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined!;
      this.#queuedBytes -= bytes;
      if (this.#head === this.#queue.length) this.#drop();
      else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#queue.length) {
        // Read slower than it fills, the queue is never empty: its front's holes were kept for the
        // stream's life (review 126: 2.4 million items read, 17 to 29 MB more heap).
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return new Promise((resolve, reject) => this.#handOver(read, { resolve, reject }));
    }
    if (this.#waiter) return Promise.reject(new TypeError("Cannot read a stream twice at once"));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      if (this.#ending) {
        this.#waiter = undefined;
        this.#finish({ resolve, reject });
      }
    });
  }

  /** Ends the stream and cancels it in the plugin (a `break` out of `for await` calls it). */
  return(): Promise<IteratorResult<T>> {
    this.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  cancel(reason: unknown = new DOMException("The stream was cancelled", "AbortError")): void {
    this.#finished = true;
    this.#end({ now: true });
    // A stream answered already kept what it held, and handed it out after `return()` (review 90).
    this.#drop();
    this.#cancel.abort(reason);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
