/**
 * A start's abort while it is planned: the work that start runs itself is
 * stopped (its helper processes killed); work other starts share is not,
 * but the aborted start stops waiting for it, once the probe under way
 * ended, within a grace ({@linkcode afterProbes}). Shared work that writes the
 * cache ({@linkcode SharedWork}: the SDK's seed) is stopped once no start
 * waits for it any more, and the last start to leave settles once it ended;
 * short writes no one can stop are waited for, within a grace
 * ({@linkcode afterWrites}).
 * @module
 */

/**
 * Settles as `work` does, or rejects with `signal.reason` as soon as
 * `signal` aborts, whichever comes first. For work cached per host process
 * that other starts wait on too (a probe, the SDK's code cache): one
 * start's abort must not end it for them, and must not wait for it either.
 * `work` goes on; its later rejection is handled, not reported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unlessAborted } from "./abort.ts";
 *
 * const abort = new AbortController();
 * const shared = new Promise<never>(() => {}); // never settles
 * const waiting = unlessAborted(shared, abort.signal);
 * abort.abort(new DOMException("The start was stopped", "AbortError"));
 * await assert.rejects(waiting, { name: "AbortError" });
 * ```
 */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * How long a stopped start still waits for a short write to the cache it
 * cannot stop ({@linkcode afterWrites}): milliseconds on a local disk; the
 * bound keeps a stop from hanging on a filesystem that hangs.
 */
export const WRITES_GRACE_MS = 2_000;

/**
 * Settles as `work` does; at `signal`'s abort it rejects with the abort's
 * reason once `work` has settled, or after `graceMs` if it has not. For
 * short writes to the cache that other starts may share and no one can
 * stop (the SDK's files, the empty Deno dir): a stopped start waits for
 * them, so that the stop of a host's last start is the end of what it made
 * write the cache ({@linkcode SharedWork} does the same for work it can
 * stop), yet a filesystem that hangs cannot hang the stop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { afterWrites } from "./abort.ts";
 *
 * const abort = new AbortController();
 * let written = false;
 * const writing = new Promise<void>((resolve) => setTimeout(() => resolve(void (written = true)), 10));
 * const waiting = afterWrites(writing, abort.signal);
 * abort.abort(new DOMException("The start was stopped", "AbortError"));
 * await assert.rejects(waiting, { name: "AbortError" });
 * assert.ok(written); // rejected only once the write had ended
 * ```
 */
export function afterWrites<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  graceMs: number = WRITES_GRACE_MS,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const leave = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const onAbort = () => {
      timer = setTimeout(leave, graceMs);
      work.then(leave, leave);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (!signal.aborted) resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        if (!signal.aborted) reject(error);
      },
    );
  });
}

/**
 * {@linkcode afterWrites} for probes other starts share, each made once per host process (Deno's
 * version, the bubblewrap probe, ldd, the cgroup probe, the OS layers' support): at `signal`'s
 * abort a start waits for the helper process under way to end, within the same grace, and then
 * rejects with the abort's reason. It is not this start's to kill (the others wait on it), and it
 * ends in milliseconds; before, the start rejected at once, so a stop that aborted a start in its
 * planning returned with ldd or the bubblewrap probe still running (review 136).
 *
 * @example
 * ```ts ignore
 * const tools = await afterProbes(detectTools(deno.path), signal);
 * ```
 */
export function afterProbes<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return afterWrites(work, signal);
}

/**
 * Work that writes the cache, shared by the starts that wait for it (the
 * SDK's seed: a Deno run, then a folder published), stopped by the last of
 * them to stop waiting. A start stopped while another still waits rejects
 * at once, and the work goes on for the other. The last one stops the work
 * and rejects only once the work has ended (its Deno run killed and its
 * folders removed: milliseconds), so that the stop of a host's last start
 * is the end of everything it made write the cache: an app that removes
 * its cache after `dispose()` no longer sees a build recreate it. Waiting
 * without a signal counts as waiting to the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedWork } from "./abort.ts";
 *
 * const work = new SharedWork((stop) =>
 *   new Promise<string>((_, reject) => stop.addEventListener("abort", () => reject(stop.reason)))
 * );
 * const abort = new AbortController();
 * const waiting = work.join(abort.signal);
 * abort.abort(new DOMException("The start was stopped", "AbortError"));
 * await assert.rejects(waiting, { name: "AbortError" });
 * assert.ok(work.stopped); // no one waited for it any more, and it has ended
 * ```
 */
export class SharedWork<T> {
  /** Settles as the work does. */
  readonly done: Promise<T>;
  #stop = new AbortController();
  #waiting = 0;
  #ended = false;

  /** Starts `run`, which ends early (rejecting, or with what it has) at `stop`'s abort. */
  constructor(run: (stop: AbortSignal) => Promise<T>) {
    this.done = run(this.#stop.signal);
    // First of its reactions: a waiter that leaves after the end stops nothing. A waiter sees a
    // rejection; the work alone reports none.
    const ended = () => void (this.#ended = true);
    this.done.then(ended, ended);
  }

  /** Whether the last waiter left and stopped the work: it gives no one a result now. */
  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * Settles as the work does, or at `signal`'s abort rejects with its
   * reason: at once while others wait, else once the work it stops ended.
   */
  join(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) {
      // A waiter that leaves as it comes: if it was the only one (work just made for it), the
      // work would go on for no one, writing the cache after the stop.
      const leave = () => Promise.reject(signal.reason);
      if (this.#waiting > 0 || this.#ended) return leave();
      this.#stop.abort(signal.reason);
      return this.done.then(leave, leave);
    }
    this.#waiting++;
    if (!signal) return this.done; // it never leaves
    return new Promise<T>((resolve, reject) => {
      let waiting = true;
      const onAbort = () => {
        waiting = false;
        const leave = () => reject(signal.reason);
        if (--this.#waiting > 0 || this.#ended) return leave();
        this.#stop.abort(signal.reason);
        this.done.then(leave, leave);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      // Whether this waiter was still waiting: one that left settles with the abort's reason.
      const settled = () => {
        if (!waiting) return false;
        waiting = false;
        signal.removeEventListener("abort", onAbort);
        this.#waiting--;
        return true;
      };
      this.done.then(
        (value) => settled() && resolve(value),
        (error) => settled() && reject(error),
      );
    });
  }
}
