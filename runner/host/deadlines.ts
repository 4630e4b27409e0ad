/**
 * Call deadlines without a timer per call: one timer for the earliest
 * deadline, and deadlines that pass unneeded are dropped lazily. A timer per
 * call cost 1.4 µs (setTimeout + clearTimeout in Deno 2.9); this costs an
 * object and an array push.
 * @module
 */

import { onAbort } from "./abort_fanout.ts";

/** A deadline: handed out by {@linkcode Deadlines.add}, or a caller's own object given to {@linkcode Deadlines.track}. */
export interface Deadline {
  /** When it passes, in `Date.now()` time (a builtin; `performance.now()` is an op call). */
  at: number;
  /** Set when the call settled first; the deadline then does nothing. */
  done: boolean;
  /** Called once if the deadline passes while not done. */
  expire(): void;
}

/** Stands in for a deadline dropped from the front of its queue, so nothing of its call stays reachable. */
const DROPPED: Deadline = Object.freeze({ at: 0, done: true, expire: () => {} });

/**
 * Deadlines kept in one FIFO per timeout value (same timeout, same order of
 * expiry), served by a single unref'd timer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deadlines } from "./deadlines.ts";
 * const deadlines = new Deadlines();
 * let expired = false;
 * deadlines.add(5, () => expired = true);
 * const kept = deadlines.add(5, () => assert.fail("settled calls do not expire"));
 * kept.done = true;
 * // The deadline timer is unref'd (a plugin's pipes keep a host alive), so wait on a timer of our own.
 * await new Promise((resolve) => setTimeout(resolve, 30));
 * assert.ok(expired);
 * deadlines.clear();
 * ```
 */
export class Deadlines {
  #queues = new Map<number, { items: Deadline[]; head: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Infinity;

  /** Entries still held (settled ones not yet dropped included): bounded by calls in flight, not calls made. */
  get held(): number {
    let held = 0;
    for (const queue of this.#queues.values()) held += queue.items.length - queue.head;
    return held;
  }

  /** Registers a deadline `ms` from now. Mark the result `done` when the call settles. */
  add(ms: number, expire: () => void): Deadline {
    const deadline: Deadline = { at: 0, done: false, expire };
    this.track(ms, deadline);
    return deadline;
  }

  /** Registers `deadline` (its `at` is set to `ms` from now): for a caller whose call object is its own deadline. */
  track(ms: number, deadline: Deadline): void {
    deadline.at = Date.now() + ms;
    let queue = this.#queues.get(ms);
    if (!queue) this.#queues.set(ms, queue = { items: [], head: 0 });
    // Settled calls at the front are dropped here, so the queue holds about
    // as many entries as calls in flight, not every call of the last `ms`; the array is compacted
    // only now and then, so their slots are emptied at once (a settled call's result with them).
    while (queue.head < queue.items.length && queue.items[queue.head].done) {
      queue.items[queue.head++] = DROPPED;
    }
    if (queue.head > 1024 && queue.head * 2 > queue.items.length) {
      queue.items = queue.items.slice(queue.head);
      queue.head = 0;
    }
    queue.items.push(deadline);
    if (deadline.at < this.#armedFor) this.#arm(deadline.at);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    // Each queue is in deadline order, but queues are not in order among
    // themselves: a timer that fires late (a busy host) finds entries of
    // several queues expired, which must expire in the order of their
    // deadlines, not of their queues.
    const expired: Deadline[] = [];
    for (const [ms, queue] of this.#queues) {
      const { items } = queue;
      while (queue.head < items.length) {
        const first = items[queue.head];
        if (!first.done && first.at > now) break;
        items[queue.head++] = DROPPED;
        if (!first.done) expired.push(first);
      }
      if (queue.head === items.length) this.#queues.delete(ms);
      else next = Math.min(next, items[queue.head].at);
    }
    if (expired.length > 1) expired.sort((a, b) => a.at - b.at);
    for (const entry of expired) {
      if (entry.done) continue;
      entry.done = true;
      entry.expire();
    }
    if (next !== Infinity) this.#arm(next);
  }

  /** Forgets every deadline and stops the timer. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#queues.clear();
  }
}

/**
 * A signal that aborts after `ms` (with `reason()`, or an `AbortError`) or
 * when `outer` aborts (with its reason). Dispose it when the wait is over:
 * that clears the timer and the listener. For single waits (a handshake, a
 * ping, a wait for a restart); calls use {@linkcode Deadlines}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deadlineSignal } from "./deadlines.ts";
 * using deadline = deadlineSignal(10, () => new Error("too slow"));
 * await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
 * assert.equal(deadline.signal.reason.message, "too slow");
 * ```
 */
export function deadlineSignal(
  ms: number,
  reason?: () => unknown,
  outer?: AbortSignal,
): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(reason?.()), ms);
  const abort = () => controller.abort(outer!.reason);
  let unlisten: (() => void) | undefined;
  // One listener on a signal that many waits share (calls waiting out a restart), not one each.
  if (outer?.aborted) abort();
  else if (outer) unlisten = onAbort(outer, abort);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      clearTimeout(timer);
      unlisten?.();
    },
  };
}
