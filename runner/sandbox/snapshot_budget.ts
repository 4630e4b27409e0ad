/**
 * How many bytes of plugin folders this process holds at once while it
 * copies them into snapshots. A snapshot reads a folder whole into memory
 * (up to its `maxBytes`, 64 MiB by default) before it hashes and writes it,
 * and starts are planned all at once: eight folders of 60 MiB planned
 * together took the host to 711 MB, about 70 MB each, with no bound on how
 * many (review 120). A walk asks for its whole size at once, after it has
 * listed the folder and before it reads a byte, so no walk holds part of
 * the budget while it waits for more; walks wait in line, first come first
 * served. One larger than the budget waits for all of it and runs alone.
 * And how many folders it walks at once, each walk's deadline counted from
 * its turn.
 * @module
 */

/** The bytes all walks of this process may hold at once: two default-sized folders. */
export const SNAPSHOT_BUDGET_BYTES = 128 * 1024 * 1024;

/**
 * Walks of plugin folders this process makes at once: twice the cores, at least 4, as launches
 * (launch_gate.ts). A walk's deadline counts from its turn: walks of the same process interleave
 * on one event loop, and 200 walks of a 400-file folder started together, 137 ms alone, each
 * passed a deadline of 2 s (review 122's 1,000 plugins: 43 refused so under load).
 */
export const WALKS_AT_ONCE: number = Math.max(4, 2 * (navigator.hardwareConcurrency || 1));

interface Waiter {
  amount: number;
  grant: () => void;
}

/**
 * A quantity taken in one piece and given back, first come first served: one that does not fit
 * waits, and those behind it wait too (a large request is not passed over for ever).
 */
class Line {
  #free: number;
  readonly #total: number;
  readonly #line: Waiter[] = [];

  constructor(total: number) {
    this.#free = this.#total = total;
  }

  get waiting(): number {
    return this.#line.length;
  }

  #serve(): void {
    while (this.#line.length > 0 && this.#line[0].amount <= this.#free) {
      const next = this.#line.shift()!;
      this.#free -= next.amount;
      next.grant();
    }
  }

  /** Takes `amount` (at most all), waiting its turn; resolves with its giving back (once). */
  take(amount: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const wanted = Math.min(Math.max(0, amount), this.#total);
    let given = false;
    const giveBack = () => {
      if (given) return;
      given = true;
      this.#free += wanted;
      this.#serve();
    };
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        amount: wanted,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(giveBack);
        },
      };
      const onAbort = () => {
        const at = this.#line.indexOf(waiter);
        if (at < 0) return; // granted already
        this.#line.splice(at, 1);
        this.#serve(); // a smaller one behind it may fit now
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#line.push(waiter);
      this.#serve();
    });
  }
}

const bytes = new Line(SNAPSHOT_BUDGET_BYTES);
const walks = new Line(WALKS_AT_ONCE);

/**
 * Walks waiting in line for their bytes (for tests, which must know when a
 * walk has listed its folder and waits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotsWaiting } from "./snapshot_budget.ts";
 * assert.equal(snapshotsWaiting(), 0);
 * ```
 */
export function snapshotsWaiting(): number {
  return bytes.waiting;
}

/**
 * Takes `bytes` of the budget (at most all of it), waiting in line until
 * they are free; rejects with `signal.reason` at its abort, taking
 * nothing. Resolves with the function that gives them back (once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotsWaiting, takeSnapshotBudget } from "./snapshot_budget.ts";
 * const giveBack = await takeSnapshotBudget(1024);
 * giveBack();
 * assert.equal(snapshotsWaiting(), 0);
 * ```
 */
export function takeSnapshotBudget(wanted: number, signal?: AbortSignal): Promise<() => void> {
  return bytes.take(wanted, signal);
}

/**
 * Takes one of the {@linkcode WALKS_AT_ONCE} turns to walk a folder,
 * waiting in line; rejects with `signal.reason` at its abort. Resolves
 * with the function that gives the turn back (once).
 *
 * @example
 * ```ts
 * import { takeWalkTurn } from "./snapshot_budget.ts";
 * const done = await takeWalkTurn();
 * done();
 * ```
 */
export function takeWalkTurn(signal?: AbortSignal): Promise<() => void> {
  return walks.take(1, signal);
}
