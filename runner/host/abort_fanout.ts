/**
 * One listener on a signal however many waits hang on it. Deno's
 * `addEventListener` and `removeEventListener` search the target's whole
 * list (the spec's duplicate check), so a listener per call on one
 * long-lived signal (a shutdown signal shared by every call, as the README
 * shows) made each call cost as many steps as calls were still waiting:
 * 100,000 calls a plugin held unanswered took the host's thread 115 s to
 * make (review 99). Here each signal carries one listener, added with its
 * first wait and removed with its last, and the waits are a `Set`.
 * @module
 */

const fanouts = new WeakMap<AbortSignal, Fanout>();

interface Fanout {
  listeners: Set<() => void>;
  dispatch: () => void;
}

/**
 * Calls `listener` once when `signal` aborts, like
 * `addEventListener("abort", listener, { once: true })` at O(1) cost;
 * returns the function that takes it off again. The caller checks
 * `signal.aborted` first: a signal already aborted never calls it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onAbort } from "./abort_fanout.ts";
 * const controller = new AbortController();
 * let told = 0;
 * onAbort(controller.signal, () => told++);
 * const unlisten = onAbort(controller.signal, () => told += 10);
 * unlisten();
 * controller.abort();
 * assert.equal(told, 1);
 * ```
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  let fanout = fanouts.get(signal);
  if (!fanout) {
    const listeners = new Set<() => void>();
    const dispatch = () => {
      fanouts.delete(signal);
      // In the order added; one taken off meanwhile (by an earlier one) is not called.
      for (const each of listeners) {
        listeners.delete(each);
        try {
          each();
        } catch (error) {
          reportError(error); // as an event listener's would be: the rest are still told
        }
      }
    };
    fanout = { listeners, dispatch };
    fanouts.set(signal, fanout);
    signal.addEventListener("abort", dispatch, { once: true });
  }
  const { listeners, dispatch } = fanout;
  listeners.add(listener);
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return;
    // The last wait is over: nothing of plugbox's stays on the caller's signal.
    if (fanouts.get(signal) === fanout) fanouts.delete(signal);
    signal.removeEventListener("abort", dispatch);
  };
}
