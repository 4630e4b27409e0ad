/**
 * A start's abort while it is planned: the work that start runs itself is
 * stopped (its helper processes killed); work other starts share is not,
 * but the aborted start stops waiting for it.
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
