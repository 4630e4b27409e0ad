/**
 * Promises handed to whoever waits for the next outcome of something (the
 * next running process, the end of a stop), settled all at once, each
 * abortable on its own.
 * @module
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/**
 * A list of waiters settled together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Waiters } from "./waiters.ts";
 * const waiters = new Waiters<number>();
 * const first = waiters.wait();
 * waiters.resolve(7);
 * assert.equal(await first, 7);
 * ```
 */
export class Waiters<T> {
  #list: Waiter<T>[] = [];

  /** How many are waiting. */
  get size(): number {
    return this.#list.length;
  }

  /** A promise settled by the next {@linkcode resolve} or {@linkcode reject}, or by `signal`. */
  wait(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#list.indexOf(waiter);
        if (index !== -1) this.#list.splice(index, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#list.push(waiter);
    });
  }

  /** Resolves everyone waiting now. */
  resolve(value: T): void {
    for (const waiter of this.#list.splice(0)) waiter.resolve(value);
  }

  /** Rejects everyone waiting now. */
  reject(reason: unknown): void {
    for (const waiter of this.#list.splice(0)) waiter.reject(reason);
  }
}
