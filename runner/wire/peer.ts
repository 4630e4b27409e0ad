/**
 * A symmetric JSON-RPC 2.0 peer: ids, the pending map and cancellation of
 * outbound requests, and the routing of what arrives (inbound requests are
 * its inbound side's, inbound.ts). It knows nothing of processes or
 * contracts; the transport feeds it parsed values and it hands messages
 * back to `send`.
 * @module
 */

import {
  type CancelParams,
  type Classified,
  classifyMessage,
  ErrorCode,
  isErrorObject,
  type Message,
  type RequestId,
  type RequestMessage,
  type ResponseMessage,
  RuntimeMethod,
} from "./protocol.ts";
import { Inbound, type InboundOptions, type RequestContext } from "./inbound.ts";
import { ResponseError } from "./response_error.ts";
import { textOf } from "../thrown_text.ts";
import { neutralize } from "./text.ts";

export { ResponseError };
export type { InboundOptions, RequestContext };

/** Options for {@linkcode Peer}: its inbound side's, and these. */
export interface PeerOptions extends InboundOptions {
  /** Receives inbound notifications other than `$/cancel`. */
  onNotification?: (method: string, params: unknown) => void;
  /**
   * Told about every protocol violation that is survivable (and so ignored),
   * with the size of the message it was found in ({@linkcode Peer.accept}'s
   * `bytes`, or 0).
   */
  onViolation?: (detail: string, bytes: number) => void;
  /**
   * Told when sending an answer or a notification failed (a request's
   * failure goes to its caller instead). Without it the failure is ignored:
   * no send made by the peer on its own ever throws.
   */
  onSendError?: (error: unknown) => void;
  /**
   * The error a pending request rejects with when its answer broke the
   * structure caps.
   * @default {a ResponseError with code -32603}
   */
  overLimitError?: (reason: string) => unknown;
  /**
   * How long a cancelled request may stay unanswered before `onStuck` is told.
   * @default {2000}
   */
  cancelGraceMs?: number;
  /** Told when a cancelled request got no answer within `cancelGraceMs`. */
  onStuck?: (method: string, id: RequestId) => void;
  /**
   * Sends an answer to an inbound request; without it, `send`. A host
   * gives one that lets answers wait beside its writer's queue
   * (`LineWriter.send`'s `answer`), and its own requests pay nothing for it.
   */
  sendAnswer?: (message: Message) => unknown;
}

/** Options for one outbound request. */
export interface PeerRequestOptions {
  /** Aborting rejects the call with `signal.reason` at once and sends `$/cancel`. */
  signal?: AbortSignal;
  /**
   * Told once the request is truly over, which may be after its promise
   * settled: answered (a cancelled one too, when its late answer arrives),
   * never sent (its signal aborted already, or the send failed), or closed.
   */
  onSettled?: () => void;
}

/**
 * One outbound request as the peer holds it until the answer: what to call
 * with the answer, and the peer's bookkeeping. {@linkcode Peer.start} makes
 * one that settles a promise; a caller that keeps its own per-call object
 * (plugbox's host) extends it and passes it to {@linkcode Peer.send}, so a
 * call costs that one object, not a closure, an entry and a promise more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Peer, PendingRequest } from "./peer.ts";
 * class Logged extends PendingRequest {
 *   answers: unknown[] = [];
 *   resolve(value: unknown): void {
 *     this.answers.push(value);
 *   }
 *   reject(reason: unknown): void {
 *     this.answers.push(reason);
 *   }
 * }
 * const peers: Peer[] = [];
 * const wire = (to: number) => (message: unknown) => peers[to].receive(message);
 * peers.push(new Peer(wire(1)));
 * peers.push(new Peer(wire(0), { onRequest: () => "pong" }));
 * const request = new Logged("ping");
 * peers[0].send(request, []);
 * assert.deepEqual(request.answers, ["pong"]);
 * ```
 */
export abstract class PendingRequest {
  /** Its id once sent (`-1` before, or when the peer was closed). */
  id: RequestId = -1;
  /** Set once the caller gave up; the entry stays until the peer answers. */
  cancelled = false;
  /** Removes the caller's abort listener, if `request()` added one. */
  unlisten: (() => void) | undefined = undefined;
  /** Set while a cancelled request waits for its late answer. */
  stuckTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Made on demand by {@linkcode Peer.signalOf}: aborted when the request ends. */
  ended: AbortController | undefined = undefined;

  /** @param method The request's method, for `onStuck`. */
  constructor(readonly method: string) {}

  /** The answer's result arrived (never after a cancel). */
  abstract resolve(value: unknown): void;
  /** The request failed: an error answer, a cancel, a closed peer, an answer over the caps. */
  abstract reject(reason: unknown): void;
  /** Told once the request is over: answered (even after a cancel), failed to send, or closed. */
  onSettled(): void {}
}

/** The entry {@linkcode Peer.start} makes: settles a promise. */
class PromisedRequest extends PendingRequest {
  constructor(
    method: string,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
    readonly settled: (() => void) | undefined,
  ) {
    super(method);
  }

  override onSettled(): void {
    this.settled?.();
  }
}

/** A request in flight, from {@linkcode Peer.start}. */
export interface Outgoing {
  /** Its id, for {@linkcode Peer.cancel}. */
  id: RequestId;
  /** Settles like {@linkcode Peer.request}'s promise. */
  promise: Promise<unknown>;
}

/** A message's size as a send function tells it (its return value), or 0. */
function sizeOf(sent: unknown): number {
  return typeof sent === "number" && sent > 0 ? sent : 0;
}

/**
 * Whether `error` is a {@linkcode ResponseError}, where asking cannot throw: `instanceof` on a
 * revoked Proxy throws, and threw out of an answer's write (review 158: the plugin's read loop
 * ended with it, and the plugin).
 */
function isResponseError(error: unknown): error is ResponseError {
  try {
    return error instanceof ResponseError;
  } catch {
    return false;
  }
}

/** A request waiting for a slot, and its size as the caller measured it. */
/**
 * One end of a JSON-RPC connection.
 *
 * @example Two peers wired back to back
 * ```ts
 * import assert from "node:assert/strict";
 * import { Peer } from "./peer.ts";
 * const peers: Peer[] = [];
 * const wire = (to: number) => (message: unknown) => queueMicrotask(() => peers[to].receive(message));
 * peers.push(new Peer(wire(1)));
 * peers.push(new Peer(wire(0), { onRequest: (_method, params) => (params as number[])[0] * 2 }));
 * assert.ok(await peers[0].request("double", [21]) === 42);
 * ```
 */
export class Peer {
  /** Sends a message; a number it returns is the message's size (charged to an answer). */
  #send: (message: Message) => unknown;
  /** Sends answers: `sendAnswer`, or `send`. */
  #sendAnswer: (message: Message) => unknown;
  #options: PeerOptions;
  #nextId = 1;
  #pending = new Map<RequestId, PendingRequest>();
  #inbound: Inbound;
  #closedReason: unknown;
  #closed = false;

  constructor(send: (message: Message) => unknown, options: PeerOptions = {}) {
    this.#send = send;
    this.#sendAnswer = options.sendAnswer ?? send;
    this.#options = options;
    this.#inbound = new Inbound(options, {
      respond: (id, result, error) => this.#respond(id, result, error),
      violation: (detail, bytes) => this.#violation(detail, bytes),
    });
  }

  /** Outbound requests not yet answered, cancelled ones included. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Whether {@linkcode close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a request and resolves with the peer's result. Rejects with a
   * {@linkcode ResponseError} for an error answer, `signal.reason` on abort,
   * the close reason when the peer closes, or the serialisation error.
   */
  request(method: string, params: unknown, options: PeerRequestOptions = {}): Promise<unknown> {
    const { signal, onSettled } = options;
    if (signal?.aborted) {
      onSettled?.();
      return Promise.reject(signal.reason);
    }
    let outgoing: Outgoing;
    try {
      outgoing = this.start(method, params, onSettled);
    } catch (error) {
      return Promise.reject(error);
    }
    const entry = this.#pending.get(outgoing.id);
    if (signal && entry) {
      const onAbort = () => this.cancel(outgoing.id, signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      entry.unlisten = () => signal.removeEventListener("abort", onAbort);
    }
    return outgoing.promise;
  }

  /**
   * Sends a request and returns its id and result promise, for callers that
   * manage cancellation themselves (see {@linkcode Peer.cancel}). Throws
   * synchronously when the message cannot be serialised. `onSettled` is
   * called once the request is truly over: answered (a cancelled one too,
   * when its late answer arrives), failed to send, or closed.
   */
  start(method: string, params: unknown, onSettled?: () => void): Outgoing {
    let request!: PromisedRequest;
    const promise = new Promise<unknown>((resolve, reject) => {
      request = new PromisedRequest(method, resolve, reject, onSettled);
    });
    return { id: this.send(request, params), promise };
  }

  /**
   * Sends `request` with `params` and returns its id; the answer goes to its
   * `resolve` or `reject`, and `onSettled` is told when it is over. Throws
   * synchronously (after `onSettled`) when the message cannot be sent;
   * on a closed peer, rejects it with the close reason and returns `-1`.
   */
  send(request: PendingRequest, params: unknown): RequestId {
    if (request.id !== -1) throw new TypeError(`Request ${request.id} was sent already`);
    if (this.#closed) {
      request.onSettled();
      request.reject(this.#closedReason);
      return -1;
    }
    const id = this.#nextId++;
    request.id = id;
    // Registered before sending: an in-memory peer may answer synchronously.
    this.#pending.set(id, request);
    try {
      this.#send({ jsonrpc: "2.0", id, method: request.method, params });
    } catch (error) {
      this.#pending.delete(id);
      request.id = -1;
      request.onSettled();
      throw error;
    }
    return id;
  }

  /**
   * Whether inbound request `id` is being handled and not cancelled yet, or
   * waits for a slot: what a `$/cancel` may end. A handler that goes on after
   * its cancel (one that ignores its signal) is not: cancels of it again do
   * nothing (review 65: a million a second of them cost no fault).
   */
  isHandling(id: unknown): boolean {
    return this.#inbound.isHandling(id);
  }

  /** Whether outbound request `id` is in flight (a cancelled one too, until it is answered). */
  isPending(id: RequestId): boolean {
    return this.#pending.has(id);
  }

  /**
   * A signal that aborts when outbound request `id` ends: answered,
   * cancelled or closed; undefined when no such request is in flight. Made
   * only on request, so a request nobody asks about costs nothing.
   */
  signalOf(id: RequestId): AbortSignal | undefined {
    const entry = this.#pending.get(id);
    if (!entry) return undefined;
    entry.ended ??= new AbortController();
    if (entry.cancelled) entry.ended.abort(new DOMException("Cancelled", "AbortError"));
    return entry.ended.signal;
  }

  /**
   * Gives up on request `id`: its promise rejects with `reason` at once and
   * the peer gets `$/cancel`. The entry stays until the peer answers, and
   * `onStuck` is told if that takes longer than `cancelGraceMs`.
   */
  cancel(id: RequestId, reason: unknown): void {
    const entry = this.#pending.get(id);
    if (!entry || entry.cancelled) return;
    entry.cancelled = true;
    entry.unlisten?.();
    entry.reject(reason);
    entry.ended?.abort(reason);
    this.notify(RuntimeMethod.cancel, { id } satisfies CancelParams);
    entry.stuckTimer = setTimeout(() => {
      entry.stuckTimer = undefined;
      if (this.#pending.get(id) === entry) this.#options.onStuck?.(entry.method, id);
    }, this.#options.cancelGraceMs ?? 2000);
  }

  /**
   * Sends a notification; dropped silently once closed. Never throws: a
   * failure goes to `onSendError`.
   */
  notify(method: string, params: unknown): void {
    if (this.#closed) return;
    this.#trySend({ jsonrpc: "2.0", method, params });
  }

  /**
   * Takes one parsed message from the transport. A returned promise means
   * the inbound request limit is reached: the caller should stop reading
   * until it settles.
   */
  receive(value: unknown): void | Promise<void> {
    return this.accept(classifyMessage(value));
  }

  /**
   * Takes one message already classified (from a scanned line, say); like
   * {@linkcode receive}, a returned promise asks the caller to pause reading.
   * `bytes`, the message's size as the caller measures it, counts against
   * `maxQueuedBytes` while a request waits for a slot, reaches the handler
   * in its context, and what a violation found in it weighs. `costMs`, what
   * the caller spent reading a request (its scan, say), is charged to
   * {@linkcode PeerOptions.inboundTime} with its handler's run.
   */
  accept(found: Classified, bytes = 0, costMs = 0): void | Promise<void> {
    switch (found.kind) {
      case "response":
        return this.#onResponse(found.message, bytes);
      case "request":
        return this.#onRequest(found.message, bytes, costMs);
      case "notification":
        return this.#onNotification(found.message);
      case "over-limit":
        return this.#onOverLimit(found.reason, found.id, bytes);
      case "invalid":
        this.#violation(`invalid message: ${found.reason}`, bytes);
        if (found.id !== null) {
          this.#respond(
            found.id,
            undefined,
            new ResponseError(ErrorCode.InvalidRequest, found.reason),
          );
        }
    }
  }

  /** A message over the structure caps: reported; a request waiting for it as an answer fails. */
  #onOverLimit(reason: string, id: RequestId | null, bytes: number): void {
    this.#violation(`${reason}${id === null ? "" : ` (id ${JSON.stringify(id)})`}`, bytes);
    const entry = id === null ? undefined : this.#pending.get(id);
    if (!entry) return;
    this.#pending.delete(id!);
    this.#settle(entry);
    if (entry.cancelled) return;
    const make = this.#options.overLimitError;
    entry.reject(
      make ? make(reason) : new ResponseError(ErrorCode.InternalError, `answer: ${reason}`),
    );
  }

  #onResponse(message: ResponseMessage, bytes: number): void {
    const entry = message.id === null ? undefined : this.#pending.get(message.id);
    if (!entry) {
      // Only an error already parsed is quoted: a long one is left unparsed.
      const error = Object.getOwnPropertyDescriptor(message, "error")?.value;
      const detail = isErrorObject(error)
        ? ` (error ${error.code}: ${error.message.slice(0, 200)})`
        : "";
      this.#violation(
        `response to unknown or already answered id ${JSON.stringify(message.id)}${detail}`,
        bytes,
      );
      return;
    }
    this.#pending.delete(message.id!);
    this.#settle(entry);
    if (entry.cancelled) return;
    if (!("error" in message)) {
      entry.resolve(message.result);
      return;
    }
    const error = message.error;
    if (!isErrorObject(error)) {
      this.#violation('invalid message: response member "error" is malformed', bytes);
      entry.reject(
        new ResponseError(ErrorCode.InternalError, 'The answer\'s "error" member is malformed'),
      );
      return;
    }
    entry.reject(new ResponseError(error.code, error.message, error.data));
  }

  #settle(entry: PendingRequest): void {
    entry.ended?.abort(new DOMException("The call ended", "AbortError"));
    entry.onSettled();
    entry.unlisten?.();
    if (entry.stuckTimer !== undefined) clearTimeout(entry.stuckTimer);
  }

  #onNotification(message: RequestMessage): void {
    if (message.method === RuntimeMethod.cancel) {
      const id = (message.params as Partial<CancelParams> | undefined)?.id;
      if (id !== undefined) this.#inbound.cancel(id);
      return;
    }
    this.#options.onNotification?.(message.method, message.params);
  }

  #onRequest(
    message: RequestMessage & { id: RequestId },
    bytes: number,
    costMs: number,
  ): void | Promise<void> {
    if (this.#closed) return;
    return this.#inbound.receive(message, bytes, costMs);
  }

  /**
   * Charges work done for the sender outside its requests (the reading of
   * its cancels, say) to {@linkcode InboundOptions.inboundTime}; nothing
   * without one.
   */
  charge(ms: number): void {
    this.#inbound.charge(ms);
  }

  /**
   * Answers inbound request `id` with `error` at once, without handling it:
   * for a request the receiver refused before it reached the peer (one
   * over a size cap, say). Does nothing once closed.
   */
  refuse(id: RequestId, error: ResponseError): void {
    if (!this.#closed) this.#respond(id, undefined, error);
  }

  /**
   * Sends an answer or notification; a failure is reported, never thrown.
   * Its size as the send function tells it (else 0), or -1 if it failed.
   */
  #trySend(message: Message, send = this.#send): number {
    try {
      return sizeOf(send(message));
    } catch (error) {
      this.#options.onSendError?.(error);
      return -1;
    }
  }

  /** Answers request `id`; the answer's size, as the send function tells it (else 0). */
  #respond(id: RequestId, result: unknown, error: unknown): number {
    if (error === undefined) {
      let text: string | undefined;
      try {
        return sizeOf(this.#sendAnswer({ jsonrpc: "2.0", id, result: result ?? null }));
      } catch (cause) {
        text = `Result is not JSON-serialisable or over the line cap: ${
          textOf(cause).slice(0, 200)
        }`;
      }
      error = new ResponseError(ErrorCode.InternalError, text);
    }
    const { code, message, data } = isResponseError(error)
      ? error
      : { code: ErrorCode.InternalError, message: textOf(error), data: undefined };
    if (data !== undefined) {
      try {
        return sizeOf(this.#sendAnswer({ jsonrpc: "2.0", id, error: { code, message, data } }));
      } catch {
        // data that cannot be sent: the answer goes without it
      }
    }
    const sent = this.#trySend({ jsonrpc: "2.0", id, error: { code, message } }, this.#sendAnswer);
    if (sent >= 0) return sent;
    return Math.max(
      0,
      this.#trySend({
        jsonrpc: "2.0",
        id,
        error: { code, message: `Error message cannot be sent: ${message.slice(0, 200)}` },
      }, this.#sendAnswer),
    );
  }

  /** Reports a fault; the peer's words in it (ids, messages) are neutralised and bounded. */
  #violation(detail: string, bytes = 0): void {
    this.#options.onViolation?.(neutralize(detail, 300), bytes);
  }

  /**
   * Rejects every pending request with `reason`, aborts inbound handlers,
   * and makes later requests reject with `reason` too. Idempotent.
   */
  close(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedReason = reason;
    for (const entry of this.#pending.values()) {
      this.#settle(entry);
      if (!entry.cancelled) entry.reject(reason);
    }
    this.#pending.clear();
    this.#inbound.close(reason);
  }
}
