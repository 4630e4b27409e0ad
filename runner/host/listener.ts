/**
 * Listeners the host's user gives (events, logs, faults): called so that
 * what one throws, or the promise it returns rejects with, stops nowhere
 * but there.
 * @module
 */

/**
 * Wraps `listener` so a call never throws and never leaves a rejection
 * unhandled. A listener's fault is not the plugin's, and must not cut a
 * change of state in half: an `onEvent` that threw left a start unsettled,
 * a dead plugin "running", a standby alive after `dispose()`, or crashed
 * the host; an `onLog` that threw stopped stderr's reading for good
 * (review 59). `failed` is told when the listener throws or rejects (an
 * `onUnresponsive` that fails leaves the kill to plugbox).
 *
 * @example
 * ```ts
 * import { guarded } from "./listener.ts";
 * const onEvent = guarded((_event: string) => {
 *   throw new Error("a listener's bug");
 * });
 * onEvent("start"); // nothing thrown
 * ```
 */
export function guarded<A extends unknown[]>(
  listener: ((...args: A) => unknown) | undefined,
  failed: () => void = () => {},
): (...args: A) => void {
  return (...args) => {
    if (!listener) return;
    try {
      const returned = listener(...args) as { then?: unknown } | undefined;
      if (typeof returned?.then === "function") {
        (returned as PromiseLike<unknown>).then(undefined, failed);
      }
    } catch {
      failed(); // the listener's own fault
    }
  };
}
