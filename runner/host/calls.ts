/**
 * Outgoing calls to one plugin: the in-flight cap with its queue, the
 * deadline of each call, abort signals, and exit errors that name the
 * method. A call without a signal costs one object and one promise, and no
 * timer, whether it is sent at once or waits for a slot.
 * @module
 */

import { checkSignal, MAX_TIMEOUT_MS } from "./check_options.ts";
import { type Deadline, Deadlines } from "./deadlines.ts";
import { type ExitStatus, PluginExitedError, TimeoutError } from "../errors.ts";
import { type Peer, PendingRequest, type RequestId } from "../wire/mod.ts";
import { type AnswerMap, type CallOptions, mapAnswer } from "./proxy.ts";
import { Slots, type Waiter } from "./slots.ts";
import { onAbort } from "./abort_fanout.ts";

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
    answer?: AnswerMap,
  ): Promise<unknown> {
    const timeoutMs = options.timeout ?? this.#options.callTimeout;
    // A deadline setTimeout cannot hold would fire at once: refused, not clamped. A string passed
    // the comparisons (review 122: "5" was taken; its deadline, `now + "5"`, was a string the
    // queue never reached, so the call never timed out, and the queue re-armed a 1 ms timer,
    // warning on stderr each time, for as long as the call lasted).
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
      return Promise.reject(
        new TypeError(
          `"timeout" must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${
            typeof timeoutMs === "number" ? timeoutMs : typeof timeoutMs
          }`,
        ),
      );
    }
    let outer: AbortSignal | undefined;
    try {
      outer = checkSignal(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (outer?.aborted) return Promise.reject(outer.reason);
    // A signal or stream hooks take the slow path; every other call, sent at
    // once or queued for a slot, is one object (its request, deadline and
    // waiter) and one promise.
    if (outer || options.onSent || options.onSettled) {
      const sent = this.#callSlowly(method, params, timeoutMs, outer, options);
      return answer ? mapAnswer(sent, answer) : sent;
    }
    const call = new OutboundCall(this, method, params, answer);
    const promise = new Promise(capture);
    call.fulfil = captured.resolve;
    call.fail = captured.reject;
    captured.resolve = captured.reject = noop; // nothing outlives its call here
    this.#deadlines.track(timeoutMs, call);
    call.timeoutMs = timeoutMs;
    if (this.#slots.tryAcquire()) this.send(call);
    else this.#slots.wait(call);
    return promise;
  }

  /** Puts `call` on the wire (it holds a slot). */
  send(call: OutboundCall): void {
    const params = call.params;
    call.params = undefined; // the line holds them now
    try {
      this.#peer.send(call, params);
    } catch (error) {
      call.reject(error); // not JSON, or over the line cap: settled and released by the peer
    }
  }

  /**
   * The slot is freed when the plugin answers or the process ends, not when
   * the caller gives up: a handler still running after a cancel still counts
   * against `maxInFlight`.
   */
  release(): void {
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

  /** `call`'s deadline passed: rejects it in line, or cancels it once sent. */
  expire(call: OutboundCall): void {
    const timeout = this.#timeout(call.method, call.timeoutMs);
    if (call.id === -1) {
      this.#slots.cancel(call); // out of the line, not only skipped when its turn comes
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
    // One listener on a signal many calls share, not one per call (abort_fanout.ts).
    const unlisten = outer ? onAbort(outer, () => fail(outer.reason)) : undefined;
    try {
      if (!this.#slots.tryAcquire()) {
        queued = new AbortController();
        await this.#slots.acquire(queued.signal);
        // Handed the slot, then aborted (or past its deadline) before this line ran: an abort in
        // the task that released the slot was lost and the call sent all the same (review 101).
        if (queued.signal.aborted) {
          this.release();
          throw queued.signal.reason;
        }
      }
      const outgoing = this.#peer.start(method, params, () => {
        deadline.done = true;
        this.release();
        hooks.onSettled?.();
      });
      sent = outgoing.id;
      hooks.onSent?.(outgoing.id);
      return await outgoing.promise;
    } catch (error) {
      throw this.callError(error, method);
    } finally {
      if (sent === undefined) deadline.done = true;
      unlisten?.();
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

  /** A `PluginExitedError` from the peer, made to name the call's method. */
  callError(error: unknown, method: string): unknown {
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

// `new Promise(capture)` hands its resolvers over without a closure per call.
const captured: { resolve: (value: unknown) => void; reject: (reason: unknown) => void } = {
  resolve: () => {},
  reject: () => {},
};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/**
 * One call without a signal, from its first line to its answer: the slots'
 * waiter while it waits for a slot, the peer's request once sent, and its
 * own deadline throughout.
 */
class OutboundCall extends PendingRequest implements Waiter, Deadline {
  readonly signal = undefined;
  readonly onAbort = undefined;
  at = 0;
  done = false;
  timeoutMs = 0;
  fulfil: (value: unknown) => void = noop;
  fail: (reason: unknown) => void = noop;
  #caller: Caller;

  constructor(
    caller: Caller,
    method: string,
    public params: unknown,
    readonly answer: AnswerMap | undefined,
  ) {
    super(method);
    this.#caller = caller;
  }

  /** Its turn in line has come: the slot is its own. */
  grant(): void {
    this.#caller.send(this);
  }

  expire(): void {
    this.#caller.expire(this);
  }

  override onSettled(): void {
    this.done = true;
    this.#caller.release();
  }

  resolve(value: unknown): void {
    if (this.answer) {
      try {
        value = this.answer.result(value);
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    this.fulfil(value);
  }

  reject(reason: unknown): void {
    const error = this.#caller.callError(reason, this.method);
    this.fail(this.answer ? this.answer.error(error) : error);
  }
}

function noop(): void {}
