/**
 * How many plugin launches (spawn to completed handshake) run at once in
 * one host process. A start is CPU, not waiting: a thousand Deno processes
 * started together on two cores each finish after seconds, so a deadline
 * that began at the spawn would time them all out. Launches past the gate's
 * width wait in line (abortably) and each plugin's start deadline begins
 * when its own launch begins. On two cores the width is 4, as fast in total
 * as starting all at once.
 * @module
 */

import { Slots } from "./slots.ts";

/** Launches in flight at once: twice the cores, at least 4. */
export const LAUNCHES_AT_ONCE: number = Math.max(4, 2 * (navigator.hardwareConcurrency || 1));

const gate = new Slots(LAUNCHES_AT_ONCE);
let launching = 0;
let lastLaunchEnded = 0;

/**
 * Whether this host process was launching a plugin at any time since `at`
 * (a `Date.now()` time): a start is CPU, so a deadline missed meanwhile
 * may be the launches' doing, not the plugin's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { launchedSince } from "./launch_gate.ts";
 * assert.equal(launchedSince(Date.now() + 60_000), false);
 * ```
 */
export function launchedSince(at: number): boolean {
  return launching > 0 || lastLaunchEnded >= at;
}

/**
 * Runs `launch` once a launch slot is free, giving the slot back when it
 * settles; rejects with `signal.reason` if the signal aborts while waiting.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gatedLaunch } from "./launch_gate.ts";
 * assert.equal(await gatedLaunch(undefined, () => Promise.resolve(7)), 7);
 * ```
 */
export async function gatedLaunch<T>(
  signal: AbortSignal | undefined,
  launch: () => Promise<T>,
): Promise<T> {
  const waiting = gate.acquire(signal);
  if (waiting) await waiting;
  launching++;
  try {
    return await launch();
  } finally {
    launching--;
    lastLaunchEnded = Date.now();
    gate.release();
  }
}
