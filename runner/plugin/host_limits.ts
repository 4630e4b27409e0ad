/**
 * Plugin side: what the host said, in `$/initialize`, it takes (capability
 * calls' size and number, progress reports' rate), and the SDK keeping
 * within it. The host counts what passes its limits against the plugin;
 * kept here, an honest plugin is told at once, in its own process, and is
 * never refused or ended for them (review 65).
 * @module
 */

import type { InitializeParams, LineCap, Outgoing, Peer } from "../wire/mod.ts";

/**
 * The host's limits as the SDK keeps them; none until the handshake.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostLimits } from "./host_limits.ts";
 * const limits = new HostLimits();
 * limits.take({ maxCapabilityBytes: 4096, maxProgressPerSecond: 50 });
 * assert.equal(limits.capLine({ id: 1, method: "m" })?.bytes, 4096);
 * assert.equal(limits.capLine({ method: "$/progress" }), undefined); // requests only
 * ```
 */
export class HostLimits {
  /** Progress reports sent per call per second; the host drops more. */
  progressPerSecond = Infinity;
  /** Capability calls in flight at once; more wait in the plugin. */
  capabilityCalls = Infinity;
  #request: LineCap | undefined;

  /** Takes what the host sent; a value that is not a positive integer leaves its limit off. */
  take(params: Partial<InitializeParams>): void {
    const bytes = positive(params.maxCapabilityBytes);
    this.#request = bytes === undefined ? undefined : {
      bytes,
      refusal: (length) =>
        `Cannot call the host: the call's line is ${length} bytes, and the host takes at most ` +
        `${bytes} (its "maxCapabilityBytes")`,
    };
    this.capabilityCalls = positive(params.maxCapabilityCalls) ?? Infinity;
    this.progressPerSecond = positive(params.maxProgressPerSecond) ?? Infinity;
  }

  /** The cap for `message`'s line: the host's for a capability call (a request), else none. */
  capLine(message: object): LineCap | undefined {
    return "id" in message && "method" in message ? this.#request : undefined;
  }
}

function positive(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) > 0 ? value as number : undefined;
}

/**
 * Capability calls beyond the host's count wait here, in order, for one in
 * flight to end (or for their own signal): past it the host answers
 * "overloaded". A crawler's thousand fetches at once just take turns.
 *
 * @example
 * ```ts ignore
 * const slots = new CallSlots(limits, peer);
 * const answer = await slots.request("notes.load", { args: ["a"] }, {});
 * ```
 */
export class CallSlots {
  #limits: HostLimits;
  #peer: Peer;
  #inFlight = 0;
  #waiting: (() => void)[] = [];

  constructor(limits: HostLimits, peer: Peer) {
    this.#limits = limits;
    this.#peer = peer;
  }

  /**
   * `peer.request`, once a slot is free. The slot is held until the host
   * has answered, not only until the caller gave up: the host holds its own
   * as long (review 66: after a timeout, the next batch was refused).
   */
  async request(
    method: string,
    params: unknown,
    options: { signal?: AbortSignal },
  ): Promise<unknown> {
    const { signal } = options;
    if (this.#inFlight >= this.#limits.capabilityCalls) await this.#slot(signal);
    else this.#inFlight++;
    if (signal?.aborted) {
      this.#release();
      throw signal.reason;
    }
    let outgoing: Outgoing;
    try {
      outgoing = this.#peer.start(method, params, () => this.#release());
    } catch (error) {
      return Promise.reject(error); // start told onSettled: the slot is free
    }
    if (!signal) return await outgoing.promise;
    const onAbort = () => this.#peer.cancel(outgoing.id, signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await outgoing.promise;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** A call is over: its slot goes to the first waiting, so none can slip in between. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }

  /** Resolves when a slot frees; rejects with the signal's reason if it aborts first. */
  #slot(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = this.#waiting.indexOf(wake);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(wake);
    });
  }
}
