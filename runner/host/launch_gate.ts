/**
 * How many plugin launches (spawn to completed handshake) run at once in
 * one host process. A start is CPU, not waiting: a thousand Deno processes
 * started together on two cores each finish after seconds, so a deadline
 * that began at the spawn would time them all out. Launches past the gate's
 * width wait in line (abortably) and each plugin's start deadline begins
 * when its own launch begins. On two cores the width is 4, as fast in total
 * as starting all at once.
 *
 * A launch in the background (a managed plugin's restart after a crash, a hot
 * standby) holds at most half of those turns: a launch whose plugin hangs its
 * handshake holds its turn until its start deadline, on no CPU of the host's,
 * and the restarts of a few such plugins held every turn, so each start or
 * manual restart of the host's honest plugins waited in line behind them
 * (review 140: a start of 226 ms alone took 5 to 7 s behind eight such
 * plugins whose deadline was 5 s; their deadline's default, 10 s, is twice
 * that). The other half is the foreground's: a plugin's first start and a
 * restart asked for by hand.
 * @module
 */

import { Slots } from "./slots.ts";

/** Launches in flight at once: twice the cores, at least 4. */
export const LAUNCHES_AT_ONCE: number = Math.max(4, 2 * (navigator.hardwareConcurrency || 1));

/** Background launches at once: half the gate, at least 1. */
export const BACKGROUND_LAUNCHES_AT_ONCE: number = Math.max(1, Math.floor(LAUNCHES_AT_ONCE / 2));

const gate = new Slots(LAUNCHES_AT_ONCE);
const background = new Slots(BACKGROUND_LAUNCHES_AT_ONCE);
let launching = 0;
let lastLaunchEnded = 0;

/**
 * Health rounds in a row a plugin's missed pings are excused by launches meanwhile
 * ({@linkcode launchedSince}); the next is judged (review 140: excused without bound, a plugin
 * stuck in a loop was never killed while another plugin of the host restarted, after a crash,
 * as often as every few seconds: 0 kills in 6 s beside one, 6 without).
 */
export const MAX_LAUNCH_EXCUSED_ROUNDS = 3;

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
 * A `background` launch takes one of {@linkcode BACKGROUND_LAUNCHES_AT_ONCE}
 * turns of its own first, so it never holds more than half the gate.
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
  options: { background?: boolean } = {},
): Promise<T> {
  const lines = options.background ? [background, gate] : [gate];
  let held = 0;
  try {
    for (const line of lines) {
      const waiting = line.acquire(signal);
      if (waiting) await waiting;
      held++;
    }
    launching++;
    try {
      return await launch();
    } finally {
      launching--;
      lastLaunchEnded = Date.now();
    }
  } finally {
    for (const line of lines.slice(0, held)) line.release();
  }
}
