/**
 * What reading a plugin's answers may take of the host's event loop. An
 * answer is the host's to ask for, once a call, so it was never charged:
 * yet its parse and its check against the contract run on the loop every
 * plugin shares, and cost what its shape makes them, not its size. An
 * object of 999,000 distinct keys (11 MiB, made once and sent again for
 * every call) held the loop 0.6 to 2 s at each answer, and one such plugin
 * cut the calls answered of 20 honest ones beside it to 0.11 to 0.22 of a
 * control's, their 99th percentile from 7 to 70 ms to 0.66 to 3.6 s
 * (review 146). Now a plugin's answers are read within a share of the
 * loop, as its capability calls are: past it, its stdout waits (its pipe
 * fills, and the plugin with it) until the share has earned the time back,
 * and the loop goes to the others meanwhile. One parse is not cut short.
 * A stream's items are the host's to ask for too, and are read as their
 * consumer takes them: what that takes is owed to the same share, and the
 * plugin's next line waits for it (review 157); every item, and its line's
 * scan, for items come as often as the plugin sends them (review 158).
 * @module
 */

import { TimeBudget } from "../wire/mod.ts";

/** The share of the host's thread one plugin's answers may take, over time. */
export const ANSWER_TIME_SHARE = 0.25;
/**
 * The time ahead one plugin's answers may take at once, in ms: an honest
 * plugin's occasional large answer (16 MiB of text: 40 to 210 ms to parse
 * and check on a loaded machine) is never paced.
 */
export const ANSWER_BURST_MS = 250;

/**
 * The shortest answer line, in characters (or bytes, for a line the Worker
 * scanned), whose reading is timed and paced. A shorter one comes one per
 * call the host itself made, and its parse and check cost little: at most
 * about 55 us here for a line of 1 KiB (items of a union of eight shapes,
 * each matching the last), against 12 ms for 4 KiB of items that all fail
 * a plain `safeParse` (0.33 ms with plugbox's early abort). Timing every
 * answer cost two clock reads a call: review 153's bench put the host's CPU
 * per call at 1.10 [1.03-1.16] of the stop before.
 */
export const ANSWER_PACED_FROM = 1024;

/**
 * One plugin's answers' reading, paced to {@linkcode ANSWER_TIME_SHARE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AnswerPace } from "./answer_pace.ts";
 * let now = 0;
 * const pace = new AnswerPace({ clock: () => now });
 * assert.equal(pace.charge(100), undefined); // within the burst
 * const wait = pace.charge(1000); // 850 ms owed: 3.4 s at a quarter
 * assert.ok(wait instanceof Promise);
 * pace.close(); // the wait ends at once
 * await wait;
 * ```
 */
export class AnswerPace {
  #budget: TimeBudget;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  /** Until when (`Date.now()`) its reading was last paced: Infinity while it is. */
  #pacedUntil = -Infinity;
  /** Whether time was owed since {@linkcode due} last looked. */
  #owing = false;

  constructor(options: { share?: number; burstMs?: number; clock?: () => number } = {}) {
    const share = options.share ?? ANSWER_TIME_SHARE;
    this.#budget = new TimeBudget({
      share,
      burstMs: options.burstMs ?? ANSWER_BURST_MS,
      clock: options.clock,
    });
  }

  /**
   * Charges `ms` of the host's thread that an answer's reading took, ending
   * at `now` (its budget's clock, `performance.now()`, read anew if not
   * given: one clock read less per answer on the hot path); a
   * promise when the plugin owes time, which settles once it is earned
   * back (the reader waits on it), or at {@linkcode close}.
   */
  charge(ms: number, now?: number): Promise<void> | undefined {
    this.#budget.spend(ms);
    if (this.#closed || this.#budget.left(now)) return undefined;
    this.#pacedUntil = Infinity;
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => this.#end(), this.#budget.waitMs());
    });
  }

  /**
   * Charges `ms` of the host's thread that checking an answer took after its
   * reading was charged (a call with a signal, say, checks it a turn later):
   * the next answer's reading waits for it (review 153).
   */
  owe(ms: number): void {
    this.#budget.spend(ms);
    this.#owing = true;
  }

  /**
   * After a line that is no answer (a stream item): a promise, as
   * {@linkcode charge}'s, when what was {@linkcode owe}d since the last
   * look put the plugin past its share. No clock is read unless something
   * was owed, so a stream of cheap items costs nothing here.
   */
  due(): Promise<void> | undefined {
    if (!this.#owing) return undefined;
    this.#owing = false;
    return this.charge(0);
  }

  /**
   * Whether its reading was paced at any time since `at` (`Date.now()`):
   * what the plugin sent meanwhile, a ping's answer among it, waited unread.
   */
  pacedSince(at: number): boolean {
    return this.#pacedUntil >= at;
  }

  /** Ends a wait under way and any later one (the plugin is gone). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#end();
  }

  #end(): void {
    if (this.#pacedUntil === Infinity) this.#pacedUntil = Date.now();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
