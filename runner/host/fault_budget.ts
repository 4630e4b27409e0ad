/**
 * How many survivable protocol faults one plugin may commit in a window
 * before it counts as faulty and is killed: stray output, invalid messages,
 * answers to nothing, requests to a host that serves none, messages over
 * the structure caps. Each is cheap alone; a stream of them is a plugin
 * spending the host's time.
 * @module
 */

/**
 * A sliding window over the last `max + 1` faults: the budget is spent when
 * `max + 1` of them fall within `windowMs`. One timestamp per fault, in a
 * ring: constant time and memory whatever the flood.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultBudget } from "./fault_budget.ts";
 * const budget = new FaultBudget(2, 10_000);
 * assert.equal(budget.record(0), false);
 * assert.equal(budget.record(1), false);
 * assert.equal(budget.record(2), true); // three faults within 10 s: over a budget of two
 * assert.equal(new FaultBudget(0, 10).record(0), true); // a budget of none: the first fault spends it
 * ```
 */
export class FaultBudget {
  /** Faults allowed within the window. */
  readonly max: number;
  /** The window, in ms. */
  readonly windowMs: number;
  /** Faults recorded so far. */
  total = 0;
  #times: Float64Array;
  #next = 0;

  constructor(max: number, windowMs: number) {
    this.max = max;
    this.windowMs = windowMs;
    this.#times = new Float64Array(max + 1).fill(-Infinity);
  }

  /** Records one fault at `now`; true when the budget is spent. */
  record(now: number = Date.now()): boolean {
    this.total++;
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % this.#times.length;
    // The slot to be overwritten next holds the oldest of the last max + 1 faults.
    return now - this.#times[this.#next] < this.windowMs;
  }
}
