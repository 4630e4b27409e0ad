/**
 * Outgoing calls to one plugin: the in-flight cap with its queue, the
 * deadline of each call, abort signals, and exit errors that name the
 * method. The common case (a free slot, no signal) costs one promise and no
 * timer.
 * @module
 */

import { MAX_TIMEOUT_MS } from "./check_options.ts";
import { type Deadline, Deadlines } from "./deadlines.ts";
import { type ExitStatus, PluginExitedError, TimeoutError } from "../errors.ts";
import type { Outgoing, Peer, RequestId } from "../wire/mod.ts";
import type { CallOptions } from "./proxy.ts";
import { Slots, type Waiter } from "./slots.ts";

/** What a {@linkcode Caller} needs to know about its plugin. */
export interface CallerOptions {
  /** The plugin's name, for errors. */
  plugin: string;
  /** Calls sent at once; more wait in line. */
  maxInFlight: number;
  /** Default deadline of a call, in ms. */
  callTimeout: number;
  /** The plugin's recent stderr, for timeout errors. */
  stderrTail(): string;
  /** How the process ended, once it has. */
  exitStatus(): ExitStatus | undefined;
}

/** Told about one call's wire life: its id once sent, and when it is over. */
export interface SendHooks {
  /** The call is on the wire as request `id`. */
  onSent?: (id: RequestId) => void;
  /** The call is over: answered (a cancelled one too, once answered) or the peer closed. */
  onSettled?: () => void;
}

/** Sends calls through a peer with deadlines, signals and a cap on calls in flight. */
export class Caller {
  #peer: Peer;
  #options: CallerOptions;
  #slots: Slots;
  #deadlines = new Deadlines();
  #releases = 0;
  #releasing = false;

  constructor(peer: Peer, options: CallerOptions) {
    this.#peer = peer;
    this.#options = options;
    this.#slots = new Slots(options.maxInFlight);
  }

  /** Forgets every deadline (the process has ended; the peer rejects what is pending). */
  clear(): void {
    this.#deadlines.clear();
  }

  /**
   * Sends one call: waits for a free slot when `maxInFlight` calls are out,
   * rejects with `TimeoutError` after the deadline, `signal.reason` on
   * abort, `PluginExitedError` (naming the method) when the process ends.
   */
  call(
    method: string,
    params: unknown,
    options: CallOptions & SendHooks = {},
  ): Promise<unknown> {
    const timeoutMs = options.timeout ?? this.#options.callTimeout;
    // A deadline setTimeout cannot hold would fire at once: refused, not clamped.
    if (!(timeoutMs >= 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
      return Promise.reject(
        new TypeError(
          `"timeout" must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${timeoutMs}`,
        ),
      );
    }
    const outer = options.signal;
    if (outer?.aborted) return Promise.reject(outer.reason);
    // A signal or stream hooks take the slow path; a call without them that
    // waits for a slot is queued as cheaply as a direct one.
    if (outer || options.onSent || options.onSettled) {
      return this.#callSlowly(method, params, timeoutMs, outer, options);
    }
    if (!this.#slots.tryAcquire()) return this.#queue(method, params, timeoutMs);
    // The common case, kept to one promise and no timer: a free slot, no signal.
    let outgoing: Outgoing;
    const deadline = this.#deadlines.add(
      timeoutMs,
      () => this.#peer.cancel(outgoing.id, this.#timeout(method, timeoutMs)),
    );
    try {
      outgoing = this.#peer.start(method, params, () => this.#release(deadline));
    } catch (error) {
      return Promise.reject(error);
    }
    return outgoing.promise.catch((error) => {
      throw this.#callError(error, method);
    });
  }

  /**
   * The slot is freed when the plugin answers or the process ends, not when
   * the caller gives up: a handler still running after a cancel still counts
   * against `maxInFlight`.
   */
  #release(deadline: Deadline): void {
    deadline.done = true;
    // A hand-over can settle the next call at once (a closed peer), which
    // releases again: counted and looped here, so a long line never recurses.
    this.#releases++;
    if (this.#releasing) return;
    this.#releasing = true;
    try {
      for (; this.#releases > 0; this.#releases--) this.#slots.release();
    } finally {
      this.#releasing = false;
    }
  }

  /**
   * A call without a signal that waits for a slot: as cheap as a direct one
   * (one waiter object, one deadline, no controller, no async function).
   */
  #queue(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call = new QueuedCall(this, method, params, resolve, reject);
      call.deadline = this.#deadlines.add(timeoutMs, () => call.expire(timeoutMs));
      this.#slots.wait(call);
    });
  }

  /** Sends a queued call now that it has a slot (QueuedCall's side of the hand-over). */
  sendQueued(call: QueuedCall): void {
    let outgoing: Outgoing;
    try {
      outgoing = this.#peer.start(call.method, call.params, () => this.#release(call.deadline));
    } catch (error) {
      call.reject(error);
      return;
    }
    call.id = outgoing.id;
    outgoing.promise.then(call.fulfil, (error) => call.reject(this.#callError(error, call.method)));
  }

  /** A queued call's deadline passed: rejects it in line, or cancels it once sent. */
  expireQueued(call: QueuedCall, timeoutMs: number): void {
    const timeout = this.#timeout(call.method, timeoutMs);
    if (call.id === undefined) {
      call.cancelled = true;
      call.reject(timeout);
    } else this.#peer.cancel(call.id, timeout);
  }

  /** A call that carries a signal: abort and deadline reach it queued or sent. */
  async #callSlowly(
    method: string,
    params: unknown,
    timeoutMs: number,
    outer: AbortSignal | undefined,
    hooks: SendHooks = {},
  ): Promise<unknown> {
    let queued: AbortController | undefined;
    let sent: number | string | undefined;
    const fail = (reason: unknown) =>
      sent !== undefined ? this.#peer.cancel(sent, reason) : queued?.abort(reason);
    const deadline = this.#deadlines.add(timeoutMs, () => fail(this.#timeout(method, timeoutMs)));
    const onAbort = outer ? () => fail(outer.reason) : undefined;
    if (onAbort) outer!.addEventListener("abort", onAbort, { once: true });
    try {
      if (!this.#slots.tryAcquire()) {
        queued = new AbortController();
        await this.#slots.acquire(queued.signal);
      }
      const outgoing = this.#peer.start(method, params, () => {
        this.#release(deadline);
        hooks.onSettled?.();
      });
      sent = outgoing.id;
      hooks.onSent?.(outgoing.id);
      return await outgoing.promise;
    } catch (error) {
      throw this.#callError(error, method);
    } finally {
      if (sent === undefined) deadline.done = true;
      if (onAbort) outer!.removeEventListener("abort", onAbort);
    }
  }

  #timeout(method: string, timeoutMs: number): TimeoutError {
    const stderrTail = this.#options.stderrTail();
    return new TimeoutError({
      plugin: this.#options.plugin,
      operation: "call",
      method,
      timeoutMs,
      stderrTail,
    });
  }

  #callError(error: unknown, method: string): unknown {
    if (!(error instanceof PluginExitedError) || error.method !== undefined) return error;
    const status: ExitStatus = this.#options.exitStatus() ??
      {
        code: error.exitCode,
        signal: error.signal,
        reason: error.reason,
        stderrTail: error.stderrTail,
      };
    return new PluginExitedError(this.#options.plugin, status, { method, cause: error });
  }
}

/** A call waiting in line for a slot, then in flight: the queue's entry and the slot's waiter. */
class QueuedCall implements Waiter {
  readonly signal = undefined;
  readonly onAbort = undefined;
  cancelled = false;
  id: number | string | undefined;
  deadline!: Deadline;
  #caller: Caller;

  constructor(
    caller: Caller,
    readonly method: string,
    readonly params: unknown,
    readonly fulfil: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    this.#caller = caller;
  }

  /** Its turn has come: the slot is its own. */
  resolve(): void {
    this.#caller.sendQueued(this);
  }

  expire(timeoutMs: number): void {
    this.#caller.expireQueued(this, timeoutMs);
  }
}
