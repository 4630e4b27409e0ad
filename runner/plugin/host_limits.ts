/**
 * Plugin side: what the host said, in `$/initialize`, it takes (capability
 * calls' size, number and bytes waiting, progress reports' rate), and the
 * SDK keeping within it. The host counts what passes its limits against the
 * plugin; kept here, an honest plugin is told at once, in its own process,
 * and is never refused or ended for them (review 65).
 * @module
 */

import type { InitializeParams, LineCap, Peer } from "../wire/mod.ts";

/**
 * The host's limits as the SDK keeps them; none until the handshake.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostLimits } from "./host_limits.ts";
 * const limits = new HostLimits();
 * limits.take({ maxCapabilityBytes: 4096, maxCapabilityQueueBytes: 1 << 20 });
 * assert.equal(limits.capLine({ id: 1, method: "m" })?.bytes, 4096);
 * assert.equal(limits.capabilityBytes, 1 << 20);
 * assert.equal(limits.capLine({ method: "$/progress" }), undefined); // requests only
 * ```
 */
export class HostLimits {
  /** Progress reports sent per call per second; the host drops more. */
  progressPerSecond = Infinity;
  /** Bytes of progress sent per second, all calls together (see `takeProgress`). */
  progressBytesPerSecond = Infinity;
  #progressSecond = 0;
  #progressBytes = 0;
  /** Capability calls in flight at once; more wait in the plugin. */
  capabilityCalls = Infinity;
  /** Bytes of capability calls in flight below which another may be sent. */
  capabilityBytes = Infinity;
  #request: LineCap = this.#cap(Infinity);
  #sent = 0;

  /** Takes what the host sent; a value that is not a positive integer leaves its limit off. */
  take(params: Partial<InitializeParams>): void {
    this.#request = this.#cap(positive(params.maxCapabilityBytes) ?? Infinity);
    this.capabilityCalls = positive(params.maxCapabilityCalls) ?? Infinity;
    this.capabilityBytes = positive(params.maxCapabilityQueueBytes) ?? Infinity;
    this.progressPerSecond = positive(params.maxProgressPerSecond) ?? Infinity;
    this.progressBytesPerSecond = positive(params.maxProgressBytesPerSecond) ?? Infinity;
  }

  /**
   * Whether a progress report of `bytes` (its value as JSON) may go now:
   * the host takes so many bytes of progress a second from all calls
   * together, and drops the rest as work for nothing. Counted as sent.
   */
  takeProgress(bytes: number): boolean {
    if (this.progressBytesPerSecond === Infinity) return true;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#progressSecond) {
      this.#progressSecond = second;
      this.#progressBytes = 0;
    }
    // 128 for the report's envelope (its id may be a long string: the host's own ids are numbers).
    if (this.#progressBytes + bytes + 128 > this.progressBytesPerSecond) return false;
    this.#progressBytes += bytes + 128;
    return true;
  }

  /** The cap for `message`'s line: the host's for a capability call (a request), else none. */
  capLine(message: object): LineCap | undefined {
    return "id" in message && "method" in message ? this.#request : undefined;
  }

  /** The size of the last capability call's line queued since the last take, or 0. */
  takeSent(): number {
    const bytes = this.#sent;
    this.#sent = 0;
    return bytes;
  }

  #cap(bytes: number): LineCap {
    return {
      bytes,
      refusal: (length) =>
        `Cannot call the host: the call's line is ${length} bytes, and the host takes at most ` +
        `${bytes} (its "maxCapabilityBytes")`,
      sent: (length) => this.#sent = length,
    };
  }
}

function positive(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) > 0 ? value as number : undefined;
}

/**
 * Capability calls beyond the host's count, or once those in flight hold
 * the bytes its queue takes, wait here, in order, for one in flight to end
 * (or for their own signal): past either the host answers "overloaded". A
 * crawler's thousand fetches at once just take turns, and so do a thousand
 * large values to store (review 66: 1,300 calls of 512 KiB at once were
 * refused, and the plugin ended for them).
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
  /** Bytes of the calls in flight, as their lines were sent. */
  #bytes = 0;
  /** A waiting call was let in and has not been sent yet: its size is not known. */
  #admitting = false;
  /**
   * Calls waiting, in order, from `#head` on (a shift of a long array moves
   * all of it); those whose signal aborted are skipped there.
   */
  #waiting: Waiter[] = [];
  #head = 0;
  /** How many of `#waiting` from `#head` on still wait. */
  #live = 0;
  /** The calls waiting with each signal, which is listened to once (see `#turn`). */
  #bySignal = new WeakMap<AbortSignal, Set<Waiter>>();

  constructor(limits: HostLimits, peer: Peer) {
    this.#limits = limits;
    this.#peer = peer;
  }

  /**
   * `peer.request`, once there is room. A call's room is held until the
   * host has answered, not only until the caller gave up: the host holds
   * its own as long (review 66: after a timeout, the next batch was refused).
   */
  async request(
    method: string,
    params: unknown,
    options: { signal?: AbortSignal },
  ): Promise<unknown> {
    const { signal } = options;
    const waited = this.#live > 0 || this.#admitting || !this.#room();
    if (waited) await this.#turn(signal);
    else this.#inFlight++;
    let bytes = 0;
    let answer: Promise<unknown>;
    try {
      // Not sent (its signal aborted, or the send threw): onSettled was told, the room is free.
      answer = this.#peer.request(method, params, {
        signal,
        onSettled: () => this.#release(bytes),
      });
      bytes = this.#limits.takeSent();
      this.#bytes += bytes;
    } finally {
      if (waited) {
        this.#admitting = false;
        this.#admit();
      }
    }
    return await answer;
  }

  /** Room for one more call: below the host's count, and its queue's bytes. */
  #room(): boolean {
    return this.#inFlight < this.#limits.capabilityCalls &&
      this.#bytes < this.#limits.capabilityBytes;
  }

  /** A call is over: its room may let the first waiting in. */
  #release(bytes: number): void {
    this.#inFlight--;
    this.#bytes -= bytes;
    this.#admit();
  }

  /**
   * Lets the first waiting call in when there is room: one at a time, as a
   * call's size is known only once it is sent, and none can slip in between.
   */
  #admit(): void {
    if (this.#admitting || this.#live === 0 || !this.#room()) return;
    let next = this.#waiting[this.#head++];
    while (next.left) next = this.#waiting[this.#head++];
    if (this.#head === this.#waiting.length) [this.#waiting, this.#head] = [[], 0];
    else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      [this.#waiting, this.#head] = [this.#waiting.slice(this.#head), 0];
    }
    this.#admitting = true;
    this.#inFlight++;
    this.#out(next);
    next.wake();
  }

  /**
   * Resolves once the call is let in; rejects with the signal's reason if it
   * aborts first. A signal is listened to once, for all the calls waiting
   * with it: the calls of one handler share its signal, and each listener
   * added scans the ones there (20,000 calls at once took 11 s, review 69).
   */
  #turn(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((wake, reject) => {
      const waiter: Waiter = { wake, reject, signal, left: false };
      this.#waiting.push(waiter);
      this.#live++;
      if (!signal) return;
      let same = this.#bySignal.get(signal);
      if (!same) {
        this.#bySignal.set(signal, same = new Set());
        signal.addEventListener("abort", () => this.#leave(signal), { once: true });
      }
      same.add(waiter);
    });
  }

  /**
   * The calls waiting with `signal`, which aborted, leave the line, each
   * rejecting: marked, and skipped when their turn comes (review 71: a
   * line rebuilt at each abort took 9 s for 40,000 calls each aborted).
   */
  #leave(signal: AbortSignal): void {
    for (const waiter of this.#bySignal.get(signal) ?? []) {
      this.#out(waiter);
      waiter.reject(signal.reason);
    }
    // Gone calls behind one that waits for good were kept (review 72: 1 KiB each, 200,000 calls
    // timed out behind a stuck host held 207 MiB): compacted once they outnumber the live ones.
    if (this.#live === 0) [this.#waiting, this.#head] = [[], 0];
    else if (this.#waiting.length - this.#head > 2 * this.#live + 1024) {
      this.#waiting = this.#waiting.slice(this.#head).filter((waiter) => !waiter.left);
      this.#head = 0;
    }
  }

  /** A waiter leaves the line: let in, or gone with its signal. */
  #out(waiter: Waiter): void {
    waiter.left = true;
    this.#live--;
    if (waiter.signal) this.#bySignal.get(waiter.signal)?.delete(waiter);
  }
}

/** A capability call waiting in the plugin for room. */
interface Waiter {
  wake: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  /** Let in, or gone with its signal: skipped in the line. */
  left: boolean;
}
