/**
 * Stderr reading driven on a clock of the test's own: `Date.now()` held, a
 * plugin's writes handed on one at a time at the times they are written,
 * other plugins' floods of the host's budget played between them, and the
 * readers' timers recorded and ended at once (reviews 105 and 106).
 * @module
 */

import { readStderr, type ReadStderrOptions } from "../../runner/host/stderr.ts";
import { chargeHost, hostAllows, joinHostBudget } from "../../runner/host/stderr_budget.ts";

/** What a plugin writes at a time of the host's clock, and what the others do just before. */
export interface Step {
  at: number;
  text: string;
  before?: () => void;
}

/**
 * Reads `steps` as one plugin's stderr, `Date.now()` at each step's `at` as it is read (a pull
 * stream of no buffer: each chunk is handed on as it is asked for), and returns its lines (and
 * plugbox's notes among them, with `notes`).
 */
export async function readAt(
  clock: { now: number },
  steps: Step[],
  options: ReadStderrOptions = {},
  notes = false,
): Promise<string[]> {
  const encoder = new TextEncoder();
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const step = steps[next++];
      if (!step) return controller.close();
      clock.now = step.at;
      step.before?.();
      controller.enqueue(encoder.encode(step.text));
    },
  }, { highWaterMark: 0 });
  const lines: string[] = [];
  await readStderr(stream, (line, fromPlugbox) => {
    if (notes || !fromPlugbox) lines.push(line);
  }, options);
  return lines;
}

/** Plugins whose lines of a millisecond each take the host's stderr budget, in turn. */
export function floods(count: number): void {
  const shares = Array.from({ length: count }, () => joinHostBudget());
  for (const share of shares) {
    for (let own = 0; own < 100 && hostAllows(share); own++) chargeHost(share, 1);
  }
}

/**
 * Runs `body` with `Date.now()` held to a clock of the test's own, `ahead` ms from now (seconds no
 * other test's budget shares), given that clock and a function from ms to its time.
 */
export async function heldClock(
  ahead: number,
  body: (clock: { now: number }, at: (ms: number) => number) => Promise<void>,
): Promise<void> {
  const realNow = Date.now;
  const clock = { now: realNow() + ahead };
  const start = clock.now;
  Date.now = () => clock.now;
  try {
    await body(clock, (ms) => start + ms);
  } finally {
    Date.now = realNow;
  }
}

/** Runs `read` with its timers held: each one's wait recorded, and ended at once. */
export async function heldTimers(
  clock: { now: number },
  read: () => Promise<unknown>,
): Promise<{ from: number; until: number }[]> {
  const realTimeout = globalThis.setTimeout;
  const waits: { from: number; until: number }[] = [];
  globalThis.setTimeout = ((run: () => void, ms: number) => {
    waits.push({ from: clock.now, until: clock.now + ms });
    return realTimeout(run, 0);
  }) as typeof setTimeout;
  try {
    await read();
  } finally {
    globalThis.setTimeout = realTimeout;
  }
  return waits;
}
