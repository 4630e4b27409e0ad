/**
 * The hot standby of one managed plugin: a second process of the same
 * plugin, started early (planned, spawned and handshaked like any start),
 * held idle and answering no calls, so that a restart takes it over instead
 * of starting a process. It is the manager's next start done ahead of time;
 * the manager decides when to fill, take and clear it.
 *
 * A standby that fails to start, or dies while idle, is lost: it is
 * discarded and another is started, at most {@linkcode STANDBY_LOSSES}
 * losses within the plugin's restart window; past that no standby is
 * started until the window has room again (checked when the manager next
 * fills it), so a plugin that always dies at start costs a bounded number
 * of starts and never fails because of its standby.
 * @module
 */

import { describeExit } from "../errors.ts";
import { firstLineOf } from "../thrown_text.ts";
import { ENDED_NOW, type Plugin } from "./plugin.ts";

/** Standbys lost (failed to start or died idle) within the window before none is started. */
export const STANDBY_LOSSES = 3;

/** What happened to a standby, as the manager reports it. */
export type StandbyChange =
  | { change: "ready"; pid: number }
  | { change: "lost"; detail: string }
  | { change: "off"; detail: string };

/** How a {@linkcode Standby} starts processes and reports on them. */
export interface StandbyOptions {
  /** Starts one process of the plugin; aborting the signal cancels the start and kills it. */
  launch: (signal: AbortSignal) => Promise<Plugin>;
  /** The window for {@linkcode STANDBY_LOSSES}, in ms (the plugin's `restartWindowMs`). */
  windowMs: number;
  /** Told when a standby is ready, lost, or no longer replaced. */
  report: (change: StandbyChange) => void;
}

/**
 * At most one standby process, starting or ready.
 *
 * @example
 * ```ts ignore
 * import { Standby } from "./standby.ts";
 * import { startPlugin } from "./plugin.ts";
 * import { Greeter } from "../../plugins/hello/contract.ts";
 *
 * const standby = new Standby({
 *   launch: (signal) => startPlugin("./plugins/hello/main.ts", { contracts: [Greeter], signal }),
 *   windowMs: 180_000,
 *   report: (change) => console.error(change),
 * });
 * standby.fill(); // starts one in the background
 * const next = standby.take(); // the ready process, or undefined
 * await standby.clear(); // no standby process is left
 * await next?.close();
 * ```
 */
export class Standby {
  #options: StandbyOptions;
  #ready: Plugin | undefined;
  #starting: { abort: AbortController; done: Promise<void> } | undefined;
  /** Bumped by `clear()`: a start from an earlier generation is closed when it completes. */
  #generation = 0;
  #losses: number[] = [];
  #off = false;

  constructor(options: StandbyOptions) {
    this.#options = options;
  }

  /** The ready standby's pid, when one is ready. */
  get pid(): number | undefined {
    return this.#ready?.pid;
  }

  /** Starts a standby in the background unless one is ready or starting, or too many were lost. */
  fill(): void {
    if (this.#ready || this.#starting || this.#spent()) return;
    const generation = this.#generation;
    const abort = new AbortController();
    const done = this.#options.launch(abort.signal).then(
      (plugin) => {
        // Cleared meanwhile: closed, and `clear()` waits for it.
        if (generation !== this.#generation) return plugin.close().then(() => {}, () => {});
        this.#starting = undefined;
        this.#hold(plugin);
      },
      (error) => {
        if (generation !== this.#generation) return; // cleared: the abort's doing
        this.#starting = undefined;
        this.#lose(`could not start: ${firstLineOf(error)}`);
      },
    );
    this.#starting = { abort, done };
  }

  /** Hands over the ready standby (it is no longer watched as one), or `undefined`. */
  take(): Plugin | undefined {
    // One known to be gone is not handed over, its exit reported or not: its exit handler loses it
    // (review 108: promoted while its exit waited for its stderr, it counted as the plugin's crash,
    // and a plugin with one restart left failed). Nor one this host killed (its faults while idle),
    // whose exit is not yet seen (review 141: promoted, it took no calls, and its exit counted).
    // Nor one dead whose exit is not yet seen, the kernel asked (review 150: a standby whose
    // plugin died while its bubblewrap had not yet ended, or that Deno had not yet reaped, was
    // promoted; its calls went nowhere and its exit counted as a second crash).
    if (this.#ready?.ending || this.#ready?.[ENDED_NOW]()) return undefined;
    const plugin = this.#ready;
    this.#ready = undefined;
    return plugin;
  }

  /** Cancels a start under way and closes the ready standby; resolves once neither process is left. */
  async clear(): Promise<void> {
    this.#generation++;
    const starting = this.#starting;
    const ready = this.#ready;
    this.#starting = undefined;
    this.#ready = undefined;
    starting?.abort.abort(new DOMException("The standby was stopped", "AbortError"));
    await Promise.allSettled([starting?.done, ready?.close()]);
  }

  #hold(plugin: Plugin): void {
    this.#ready = plugin;
    this.#options.report({ change: "ready", pid: plugin.pid });
    plugin.exited.then((status) => {
      if (this.#ready !== plugin) return; // taken or cleared: not ours to judge
      this.#ready = undefined;
      this.#lose(`it ${describeExit(status)} while idle`);
    });
  }

  #lose(detail: string): void {
    this.#losses.push(Date.now());
    const generation = this.#generation;
    this.#options.report({ change: "lost", detail });
    // Cleared by whoever was told (a listener that stopped the plugin): no standby follows (review 80).
    if (generation === this.#generation) this.fill();
  }

  /** Whether {@linkcode STANDBY_LOSSES} losses fall within the window (reported once per spell). */
  #spent(): boolean {
    const now = Date.now();
    this.#losses = this.#losses.filter((t) => now - t < this.#options.windowMs);
    const spent = this.#losses.length >= STANDBY_LOSSES;
    if (spent && !this.#off) {
      this.#options.report({
        change: "off",
        detail: `${this.#losses.length} standbys lost within ${this.#options.windowMs} ms`,
      });
    }
    this.#off = spent;
    return spent;
  }
}
