/**
 * A counting semaphore with a FIFO queue and abortable waits: it caps the
 * calls in flight to one plugin and queues the rest. Every operation costs
 * O(1) amortized, whatever the length of the line (review 99: `shift()` and
 * an abort's `indexOf` + `splice` copy the whole line once it is past V8's
 * in-place trimming, about 30,000 waiters, so 100,000 queued calls a
 * plugin never answered took the host's thread 4 s to hand out and 3.6 s
 * to abort).
 * @module
 */

/** One wait for a slot: `grant` is called when the slot is its. */
export interface Waiter {
  grant(): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Set once it no longer wants the slot ({@linkcode Slots.cancel}, or its signal): it is skipped, not handed one. */
  cancelled?: boolean;
}

/** Dead entries (handed out or aborted) a line keeps before it is compacted. */
const SLACK = 1024;

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
  readonly #size: number;
  /** The line from `#head` on; entries before it are handed out (emptied). */
  #waiters: (Waiter | undefined)[] = [];
  #head = 0;
  /**
   * Waits still in the line that no longer want a slot (aborted, or cancelled): skipped when
   * reached, dropped by `#compact()`. A cancelled call counted nowhere was never compacted away
   * (review 101: calls whose deadline passed in line behind a plugin that holds its slots stayed,
   * their arguments with them, for as long as it held them).
   */
  #aborted = 0;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new TypeError(`Slot count must be a positive integer, got ${size}`);
    }
    this.#free = size;
    this.#size = size;
  }

  /** Whether no slot is taken and no one waits: the line holds nothing and may be dropped. */
  get idle(): boolean {
    return this.#free === this.#size && this.queued === 0;
  }

  /** Calls waiting for a slot (aborted and cancelled ones left out). */
  get queued(): number {
    return this.#waiters.length - this.#head - this.#aborted;
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
        // Marked, not searched for: it is skipped when its turn comes (or dropped by a compaction).
        waiter.onAbort = () => {
          this.cancel(waiter);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /**
   * Waits in the same line as {@linkcode acquire}, without a promise: the
   * slot is handed over by calling `waiter.grant()`, unless it is
   * {@linkcode cancel}led first.
   */
  wait(waiter: Waiter): void {
    this.#waiters.push(waiter);
  }

  /** Takes `waiter`, still in line, out of it: skipped when its turn comes, or dropped before. */
  cancel(waiter: Waiter): void {
    if (waiter.cancelled) return;
    waiter.cancelled = true;
    this.#aborted++;
    this.#compact();
  }

  /** Returns a slot, handing it straight to the next waiter if any. */
  release(): void {
    const next = this.#next();
    if (!next) {
      this.#free++;
      return;
    }
    if (next.onAbort) next.signal!.removeEventListener("abort", next.onAbort);
    next.grant();
  }

  /** Takes the first waiter that still wants a slot off the line, or `undefined`. */
  #next(): Waiter | undefined {
    const line = this.#waiters;
    while (this.#head < line.length) {
      const waiter = line[this.#head];
      line[this.#head++] = undefined; // nothing of a handed-out call stays reachable from here
      if (!waiter!.cancelled) {
        this.#compact();
        return waiter;
      }
      this.#aborted--; // cancelled or aborted, counted until now
    }
    this.#waiters = [];
    this.#head = 0;
    return undefined;
  }

  /**
   * Drops the dead entries once they outnumber the live ones (and `SLACK`):
   * each compaction copies at most as many entries as died since the last,
   * so the line's cost stays linear in the waits made.
   */
  #compact(): void {
    const line = this.#waiters;
    const dead = this.#head + this.#aborted;
    if (dead <= SLACK || dead * 2 <= line.length) return;
    const kept: Waiter[] = [];
    for (let i = this.#head; i < line.length; i++) {
      const waiter = line[i]!;
      if (!waiter.cancelled) kept.push(waiter);
    }
    this.#waiters = kept;
    this.#head = 0;
    this.#aborted = 0;
  }
}
