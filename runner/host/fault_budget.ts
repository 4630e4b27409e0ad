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
 * assert.equal(new FaultBudget(3, 10).record(0, 4), true); // one fault that weighs four
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

  /**
   * Records a fault at `now`, counted `weight` times (a fault that cost the
   * host a long line counts as many short ones); true when the budget is spent.
   */
  record(now: number = Date.now(), weight = 1): boolean {
    this.total += weight;
    for (let n = Math.min(weight, this.#times.length); n > 0; n--) {
      this.#times[this.#next] = now;
      this.#next = (this.#next + 1) % this.#times.length;
    }
    // The slot to be overwritten next holds the oldest of the last max + 1 faults.
    return now - this.#times[this.#next] < this.windowMs;
  }
}

/**
 * Work a plugin made the host do for nothing: lines the protocol lets
 * pass without effect (blank lines, cancels of calls not in progress,
 * progress reports nobody receives, calls refused as overloaded or with
 * invalid arguments: PROTOCOL.md section 1). Each is allowed; a flood of them
 * spent a core of the host's for a plugin held to half of one, and cost
 * no fault (review 57). Measured in units of about a short line's work:
 * one per line, and one per 256 bytes of it (what the scan costs); each
 * `quantum` of them is one fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WasteMeter } from "./fault_budget.ts";
 * const meter = new WasteMeter(4);
 * assert.equal(meter.add(0), 0);
 * assert.equal(meter.add(0), 0);
 * assert.equal(meter.add(512), 1); // 1 + 1 + 3 units: a quantum of 4 is complete
 * assert.equal(meter.add(0), 0); // 1 left over, and 1 more
 * assert.equal(meter.add(2048), 2); // 2 + 9 units: two quanta, 3 left over
 * ```
 */
export class WasteMeter {
  /** Units per fault. */
  readonly quantum: number;
  #units = 0;

  constructor(quantum: number) {
    this.quantum = quantum;
  }

  /** Adds one line of `bytes` that did nothing; how many quanta it completed. */
  add(bytes: number): number {
    this.#units += 1 + Math.floor(bytes / 256);
    const quanta = Math.floor(this.#units / this.quantum);
    this.#units -= quanta * this.quantum;
    return quanta;
  }
}
