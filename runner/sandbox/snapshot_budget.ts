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
 * @module
 */

/** The bytes all walks of this process may hold at once: two default-sized folders. */
export const SNAPSHOT_BUDGET_BYTES = 128 * 1024 * 1024;

interface Waiter {
  bytes: number;
  grant: () => void;
}

let free = SNAPSHOT_BUDGET_BYTES;
const line: Waiter[] = [];

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
  return line.length;
}

function serve(): void {
  while (line.length > 0 && line[0].bytes <= free) {
    const next = line.shift()!;
    free -= next.bytes;
    next.grant();
  }
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
export function takeSnapshotBudget(bytes: number, signal?: AbortSignal): Promise<() => void> {
  signal?.throwIfAborted();
  const wanted = Math.min(Math.max(0, bytes), SNAPSHOT_BUDGET_BYTES);
  let given = false;
  const giveBack = () => {
    if (given) return;
    given = true;
    free += wanted;
    serve();
  };
  return new Promise((resolve, reject) => {
    const waiter: Waiter = {
      bytes: wanted,
      grant: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(giveBack);
      },
    };
    const onAbort = () => {
      const at = line.indexOf(waiter);
      if (at < 0) return; // granted already
      line.splice(at, 1);
      serve(); // a smaller walk behind it may fit now
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    line.push(waiter);
    serve();
  });
}
