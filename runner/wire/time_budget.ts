/**
 * A share of this thread's time, earned as time passes and spent as work
 * runs: what a peer lets its inbound requests' handlers take. Bound by
 * cost, not by count: a 2 MiB capability argument costs the host's event
 * loop ten to seventeen times what sending it cost the plugin (review 69),
 * and a count of calls in flight does not see that.
 * @module
 */

/** How much of the thread's time work may take, and how much it may take at once. */
export interface TimeShare {
  /** The share of elapsed time, over 0 and at most 1. */
  share: number;
  /** Time earned ahead that may be spent at once, in ms: the bucket's size. */
  burstMs: number;
  /**
   * Time owed for reading alone (what the sender sent, whether it ever runs
   * or not: it may cancel what waits before it does) past which a peer
   * refuses new requests, answered overloaded as past its queue, in ms.
   * What ran is owed too, and paced, but never refused for.
   * @default {Infinity}
   */
  maxOwedMs?: number;
  /**
   * What writing an answer costs per character of its line, in ms, charged
   * with it: the write is asynchronous, so no clock around the answer sees
   * it (a pipe takes a large answer in 64 KiB parts, each a turn).
   * @default {0}
   */
  answerMsPerChar?: number;
  /** The clock, in ms; tests step one of their own. @default {performance.now} */
  clock?: () => number;
}

/**
 * A token bucket of thread time: it fills at `share` ms per ms elapsed, up
 * to `burstMs`, and work spends what it took. Work may run while anything
 * is left; what it takes beyond is a debt the wait then pays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeBudget } from "./time_budget.ts";
 *
 * const budget = new TimeBudget({ share: 0.25, burstMs: 10 }, 0);
 * assert.ok(budget.left(0));
 * budget.spend(30); // 20 ms beyond the bucket
 * assert.equal(budget.left(0), false);
 * assert.equal(budget.waitMs(0), 80); // 20 ms of debt at 0.25 ms a ms
 * assert.ok(budget.left(81));
 * ```
 */
export class TimeBudget {
  #share: number;
  #burst: number;
  #left: number;
  #at: number;
  #clock: () => number;

  constructor(limit: TimeShare, now?: number) {
    this.#clock = limit.clock ?? (() => performance.now());
    now ??= this.#clock();
    this.#share = limit.share;
    this.#burst = limit.burstMs;
    this.#left = limit.burstMs;
    this.#at = now;
  }

  /** The budget's clock now, in ms: what work is timed with. */
  now(): number {
    return this.#clock();
  }

  /** Whether work may run now: some of the budget is left. */
  left(now: number = this.#clock()): boolean {
    return this.#refill(now) > 0;
  }

  /** Spends `ms` of work's time (past the budget: a debt). */
  spend(ms: number): void {
    this.#left -= ms;
  }

  /** Time spent past the budget and not yet earned back, in ms. */
  owedMs(now: number = this.#clock()): number {
    return Math.max(0, -this.#refill(now));
  }

  /** How long until work may run again, in whole ms (at least 1). */
  waitMs(now: number = this.#clock()): number {
    return Math.max(1, Math.ceil(-this.#refill(now) / this.#share));
  }

  #refill(now: number): number {
    this.#left = Math.min(this.#burst, this.#left + (now - this.#at) * this.#share);
    this.#at = now;
    return this.#left;
  }
}
