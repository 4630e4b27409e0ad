/**
 * A counting semaphore with a FIFO queue and abortable waits: it caps the
 * calls in flight to one plugin and queues the rest.
 * @module
 */

/** One wait for a slot: `grant` is called when the slot is its. */
export interface Waiter {
  grant(): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Set by its owner when it no longer wants the slot: it is skipped, not handed one. */
  cancelled?: boolean;
}

/**
 * Counts free slots; {@linkcode Slots.acquire} waits in line when none is free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Slots } from "./slots.ts";
 * const slots = new Slots(1);
 * assert.equal(slots.acquire(), undefined); // taken at once
 * const queued = slots.acquire()!;
 * slots.release();
 * await queued; // handed over in order
 * ```
 */
export class Slots {
  #free: number;
  #waiters: Waiter[] = [];

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new TypeError(`Slot count must be a positive integer, got ${size}`);
    }
    this.#free = size;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#waiters.length;
  }

  /** Takes a slot if one is free, without waiting. */
  tryAcquire(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }

  /**
   * Takes a slot: `undefined` when one was free (no promise on the fast
   * path), else a promise that resolves in turn or rejects with the
   * signal's reason if it aborts first.
   */
  acquire(signal?: AbortSignal): Promise<void> | undefined {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index !== -1) this.#waiters.splice(index, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /**
   * Waits in the same line as {@linkcode acquire}, without a promise: the
   * slot is handed over by calling `waiter.grant()`. A waiter its owner
   * marks `cancelled` is skipped when its turn comes.
   */
  wait(waiter: Waiter): void {
    this.#waiters.push(waiter);
  }

  /** Returns a slot, handing it straight to the next waiter if any. */
  release(): void {
    let next = this.#waiters.shift();
    while (next?.cancelled) next = this.#waiters.shift();
    if (!next) {
      this.#free++;
      return;
    }
    if (next.onAbort) next.signal!.removeEventListener("abort", next.onAbort);
    next.grant();
  }
}
