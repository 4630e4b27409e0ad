/**
 * The host's thread time every plugin's stderr lines share a second, on top
 * of each plugin's own 100 ms (stderr.ts). The rule:
 *
 * - every plugin's lines together take at most twice
 *   {@linkcode STDERR_HOST_MS_PER_SECOND} a second, whatever else below;
 * - a plugin under its share, the budget over the larger of the plugins
 *   that had a line this second and those that had one the second before,
 *   is never dropped below that;
 * - past its share, its lines go on while every plugin's together took less
 *   than the budget.
 *
 * Why each part. Each plugin's budget alone added up: eight plugins of
 * control characters held 45% of the host's thread (review 100). Shared
 * first come, two floods took it all at each second's start, and an honest
 * plugin lost 78% of its lines, its writes blocked up to a second (review
 * 101). Shares over every plugin reading left a busy one among quiet ones
 * 10 ms; over those with a line, counted as they came, shares added up
 * (100, 100, 67, 50… ms: 445 ms a second for eight, 725 for 32), hence the
 * second before's count (review 103) and the ceiling (this stop's re-read).
 * A plugin is counted as it has a line, let through or not: counted only
 * once let through, 16 floods left an honest plugin nothing for 4 s.
 * @module
 */

/**
 * The most of the host's thread every plugin's stderr lines take a second, together, in ms: each
 * plugin's budget alone let eight plugins of control characters hold 45% of it, 33 times their
 * own CPU, and ten the whole of it (review 100).
 */
export const STDERR_HOST_MS_PER_SECOND = 200;

/**
 * The reads every plugin's stderr takes a second, together, before a reader past its share waits
 * (each plugin's own cap is 2,000): reads cost the host whatever they hold, and 16 plugins dripping
 * a byte a write, no line ever ended, held 49% of its thread at 2,000 reads each (review 107).
 * Twice as many at most, as for the lines' time.
 */
export const STDERR_HOST_READS_PER_SECOND = 10_000;

/**
 * The bytes that count as one more read of {@linkcode STDERR_HOST_READS_PER_SECOND}: a read of a
 * full pipe (64 KiB) costs the host about what five reads of a byte do, and counted as one, 32
 * plugins each at its own 16 MiB a second held 41% of the host's thread within the host's reads,
 * 1.3% more for each plugin more (review 112).
 */
export const STDERR_READ_UNIT_BYTES = 16_384;

/** One reader's part of the host's budget. */
export interface StderrShare {
  /** The time its lines took in the host's second `second`, in ms. */
  spentMs: number;
  /** Which host second `spentMs` belongs to. */
  second: number;
  /** The host second it last had a line in (asked for the host's time), or -1. */
  asked: number;
  /** Its reads in the host's second `readSecond`. */
  reads: number;
  /** The host second it last read in, or -1. */
  readSecond: number;
}

interface HostBudget {
  /** When the host's second began, in `Date.now()` time. */
  window: number;
  /** The host's second's number. */
  second: number;
  /** Every reader's time on lines this second. */
  spentMs: number;
  /** The readers that had a line this second, let through or not. */
  wanting: number;
  /** The readers that had a line the second before (0 when that was not the last). */
  before: number;
  /** Every reader's reads this second. */
  reads: number;
  /** The readers that read this second. */
  reading: number;
  /** The readers that read the second before (0 when that was not the last). */
  readingBefore: number;
}

/**
 * One budget per thread, whatever copies of this module it loads (two versions of plugbox in one
 * host would each have had their own); a worker is a thread of its own, with its own.
 */
const KEY = Symbol.for("plugbox.stderr.hostBudget.v5");
const host: HostBudget = ((globalThis as Record<symbol, unknown>)[KEY] ??= {
  window: 0,
  second: 0,
  spentMs: 0,
  wanting: 0,
  before: 0,
  reads: 0,
  reading: 0,
  readingBefore: 0,
}) as HostBudget;

/**
 * Whether a second that began at `window` is over at `now`: a clock set back (NTP, a resumed VM)
 * begins one too, or a window in the future held every budget spent until the clock caught up
 * (review 101).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { secondOver } from "./stderr_budget.ts";
 * assert.equal(secondOver(1000, 1500), false);
 * assert.equal(secondOver(1000, 2000), true);
 * assert.equal(secondOver(1000, 999), true);
 * ```
 */
export function secondOver(window: number, now: number): boolean {
  return now - window >= 1000 || now < window;
}

function spent(share: StderrShare): number {
  return share.second === host.second ? share.spentMs : 0;
}

function renew(): void {
  const now = Date.now();
  if (!secondOver(host.window, now)) return;
  // The second just over is the one before only if this one follows it.
  const follows = now - host.window < 2000 && now >= host.window;
  host.before = follows ? host.wanting : 0;
  host.readingBefore = follows ? host.reading : 0;
  host.window = now;
  host.second++;
  host.spentMs = 0;
  host.wanting = 0;
  host.reads = 0;
  host.reading = 0;
}

/**
 * A reader's part of the budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chargeHost, hostAllows, joinHostBudget } from "./stderr_budget.ts";
 * const share = joinHostBudget();
 * assert.ok(hostAllows(share));
 * chargeHost(share, 1);
 * ```
 */
export function joinHostBudget(): StderrShare {
  renew();
  return { spentMs: 0, second: host.second, asked: -1, reads: 0, readSecond: -1 };
}

/**
 * Whether `share`'s next line may take the host's time: never once every reader's lines together
 * took twice {@linkcode STDERR_HOST_MS_PER_SECOND}; else always while it is under its share (the
 * budget over the readers that had a line this second, itself among them, or the second before
 * if more had then), else while every reader's lines together took less than the budget.
 */
export function hostAllows(share: StderrShare): boolean {
  renew();
  // Counted as it asks, let through or not: one refused at the ceiling still has a share next
  // second, from its start (counted only once let through, 16 floods left an honest plugin that
  // came after them nothing for four seconds).
  if (share.asked !== host.second) {
    share.asked = host.second;
    host.wanting++;
  }
  if (host.spentMs >= 2 * STDERR_HOST_MS_PER_SECOND) return false;
  const readers = Math.max(host.wanting, host.before);
  if (spent(share) < STDERR_HOST_MS_PER_SECOND / readers) return true;
  return host.spentMs < STDERR_HOST_MS_PER_SECOND;
}

/**
 * Whether the host's second `share` last had a line in is over (a new one begins if so): a reader
 * dropped at the ceiling reads again from the host's next second, not from its own next second,
 * which dropped an honest plugin's lines for up to 1.6 s in a row, in a second the host had its
 * whole budget in (review 105).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostAllows, hostSecondOver, joinHostBudget } from "./stderr_budget.ts";
 * const share = joinHostBudget();
 * hostAllows(share);
 * assert.equal(hostSecondOver(share), false);
 * ```
 */
export function hostSecondOver(share: StderrShare): boolean {
  renew();
  return share.asked !== host.second;
}

/** When the host's second ends, in `Date.now()` time (a new one begins at the next line after). */
export function hostSecondEnds(): number {
  return host.window + 1000;
}

/**
 * Counts a read of `bytes` for `share`, one read more for each
 * {@linkcode STDERR_READ_UNIT_BYTES} it holds; whether it is within the host's reads: never past twice
 * {@linkcode STDERR_HOST_READS_PER_SECOND} together; else always within its share (those reads
 * over the readers that read this second or, if more, the second before), else while every
 * reader's reads together are under them. Past them, reading waits (a pipe holds what is written
 * meanwhile, and the next read takes it all: an honest plugin's lines come later, none is lost).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostReadAllows, joinHostBudget } from "./stderr_budget.ts";
 * assert.ok(hostReadAllows(joinHostBudget()));
 * ```
 */
export function hostReadAllows(share: StderrShare, bytes = 0): boolean {
  renew();
  if (share.readSecond !== host.second) {
    share.readSecond = host.second;
    share.reads = 0;
    host.reading++;
  }
  const reads = 1 + Math.floor(bytes / STDERR_READ_UNIT_BYTES);
  share.reads += reads;
  host.reads += reads;
  if (host.reads > 2 * STDERR_HOST_READS_PER_SECOND) return false;
  const readers = Math.max(host.reading, host.readingBefore);
  return share.reads <= STDERR_HOST_READS_PER_SECOND / readers ||
    host.reads <= STDERR_HOST_READS_PER_SECOND;
}

/** Charges `ms` of the host's time to `share`. */
export function chargeHost(share: StderrShare, ms: number): void {
  renew();
  if (share.second !== host.second) {
    share.second = host.second;
    share.spentMs = 0;
  }
  share.spentMs += ms;
  host.spentMs += ms;
}
