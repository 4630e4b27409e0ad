/**
 * A symmetric JSON-RPC 2.0 peer: ids, the pending map, cancellation, and
 * inbound request dispatch. It knows nothing of processes or contracts; the
 * transport feeds it parsed values and it hands messages back to `send`.
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
import { neutralize } from "./text.ts";
import { TimeBudget, type TimeShare } from "./time_budget.ts";

/**
 * A JSON-RPC error answer, as it arrived: what the raw `plugin.call()`
 * rejects with when the plugin answers with an error (typed API methods turn
 * it into {@linkcode PluginError}, {@linkcode PermissionDeniedError} or
 * {@linkcode ValidationError}). Inside plugbox, request handlers also throw
 * it to answer with a specific code. Its `message` and `data` are the
 * plugin's words: neutralise them before showing them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResponseError } from "./peer.ts";
 * const error = new ResponseError(-32602, "bad params", { path: [0] });
 * assert.ok(error.code === -32602);
 * ```
 */
export class ResponseError extends Error {
  /** Always `"ResponseError"`. */
  override name = "ResponseError" as const;
  /** The JSON-RPC error code. */
  readonly code: number;
  /** The JSON-RPC `data` member. */
  readonly data: unknown;

  /** Builds the error; see the class for what each field means. */
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/** What a request handler receives besides method and params. */
export interface RequestContext {
  /** The request's id. */
  id: RequestId;
  /** Aborted when the caller sends `$/cancel` for this id or the peer closes. */
  signal: AbortSignal;
  /** The request's size as the receiver measured it ({@linkcode Peer.accept}'s `bytes`), or 0. */
  bytes?: number;
  /**
   * Charges work done for this request outside its handler's first run (a
   * result's check, say) to the peer's {@linkcode PeerOptions.inboundTime}.
   */
  charge?(ms: number): void;
}

/** Options for {@linkcode Peer}. */
export interface PeerOptions {
  /** Answers inbound requests. Without it every request gets "method not found". */
  onRequest?: (method: string, params: unknown, context: RequestContext) => unknown;
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
   * Inbound requests handled at once. Beyond it up to
   * {@linkcode PeerOptions.maxQueuedRequests} wait their turn while the peer
   * reads on; past those it stops reading until a response has been
   * written, so a flood is bounded by the pipe.
   * @default {64}
   */
  maxInboundRequests?: number;
  /**
   * Requests held, in order, beyond `maxInboundRequests` while the peer
   * reads on: answers to its own requests and notifications (`$/credit`,
   * `$/cancel`) still arrive, so handlers waiting on them can finish. With
   * none, 64 calls that each called back (a capability, `hostFetch`, a
   * stream waiting for credit) stopped the reading their answers needed,
   * and the plugin died (review 59).
   * @default {0}
   */
  maxQueuedRequests?: number;
  /**
   * Bytes of requests held beyond `maxInboundRequests` (as the caller
   * measured them: {@linkcode Peer.accept}'s `bytes`): the queue is full at
   * `maxQueuedRequests` requests or at this many bytes, whichever comes
   * first. A held request keeps its line, parsed or not, so the count
   * alone would let a queue of long lines hold gigabytes.
   * @default {Infinity}
   */
  maxQueuedBytes?: number;
  /**
   * The share of this thread's time inbound requests may take, as a token
   * bucket: what the caller tells {@linkcode Peer.accept} reading them cost,
   * their handlers' synchronous run (for a host's capability call, the
   * parse of its arguments, their check and the capability's first step),
   * what a handler charges through its context, and their answers
   * (serialised, with an estimate per character for the write). While it is
   * spent, requests wait in the queue as for a slot, the slots left idle
   * counting as queue room, and are dispatched as it refills; one cancelled
   * while it waits is charged its answer, not counted as waste; owing more
   * than `maxOwedMs`, the sender's new requests are refused as past the
   * queue. A peer that sends work which costs far more to take than to
   * send is paced, not ended.
   * @default {no limit}
   */
  inboundTime?: TimeShare;
  /**
   * With every slot and the queue full, answer a request at once with
   * `-32004` (overloaded) instead of pausing the reading: a receiver that
   * must keep reading (its own requests' answers, health pings) under any
   * load. A refused request is told to `onWasted`.
   * @default {false}
   */
  refuseWhenFull?: boolean;
  /**
   * How long a cancelled request may stay unanswered before `onStuck` is told.
   * @default {2000}
   */
  cancelGraceMs?: number;
  /** Told when a cancelled request got no answer within `cancelGraceMs`. */
  onStuck?: (method: string, id: RequestId) => void;
  /**
   * Told, with its size, of a request that cost an answer and did nothing:
   * one held for a slot and cancelled before it ran (a request and its
   * cancel, again and again: review 65), or one refused as overloaded.
   */
  onWasted?: (bytes: number) => void;
  /**
   * Resolves when what was sent so far has been written; an inbound
   * request's slot is freed only then. Without it, slots free at once.
   */
  flushed?: () => Promise<unknown>;
  /**
   * True while the writer has no room for one more whole line. Answers
   * then wait as values, in order and in their slots, until `flushed`
   * resolves: what waits to be written stays bounded in bytes, and what
   * waits as values is bounded by the slots. Without it, 64 answers of
   * 1 MiB finished at once waited to be written together, past the
   * writer's queue cap, and an honest caller that read them was ended as
   * not reading (review 74).
   */
  backlogged?: () => boolean;
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

/**
 * An inbound request being handled: the handler's context. Its signal is
 * made on first use (most handlers never look), already aborted if the
 * request was cancelled before.
 */
class InboundRequest implements RequestContext {
  cancelled = false;
  #controller: AbortController | undefined;
  #reason: unknown;

  constructor(
    readonly id: RequestId,
    readonly bytes: number,
    readonly budget: TimeBudget | undefined,
  ) {}

  charge(ms: number): void {
    this.budget?.spend(ms);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.cancelled) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  cancel(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** A message's size as a send function tells it (its return value), or 0. */
function sizeOf(sent: unknown): number {
  return typeof sent === "number" && sent > 0 ? sent : 0;
}

/** A request waiting for a slot, and its size as the caller measured it. */
interface Queued {
  message: RequestMessage & { id: RequestId };
  bytes: number;
}

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
  #options: PeerOptions;
  #nextId = 1;
  #pending = new Map<RequestId, PendingRequest>();
  #inbound = new Map<RequestId, InboundRequest>();
  #inboundSlots = 0;
  /** Requests waiting for a slot, in order of arrival. */
  #queued: Queued[] = [];
  /** Their ids, so a reused or cancelled id is found without a walk of the queue. */
  #queuedIds = new Set<RequestId>();
  #queuedBytes = 0;
  #maxQueued: number;
  #maxQueuedBytes: number;
  #maxInbound: number;
  #slotWaiter: (() => void) | undefined;
  #budget: TimeBudget | undefined;
  /**
   * What the sender owes for reading alone (its requests' lines, its
   * cancels, answers to requests it withdrew), earned back at the same
   * share: the debt the horizon judges. A request that ran owes its run to
   * `#budget` only, which paces, never refuses (review 75: a capability's
   * synchronous step of 1.5 s had an honest plugin's next call refused).
   */
  #reading: TimeBudget | undefined;
  #maxOwedMs: number;
  #answerMsPerChar: number;
  /** Dispatches what waited for the budget, once it has refilled. */
  #refillTimer: ReturnType<typeof setTimeout> | undefined;
  /** The write the latest answers wait for, and how many slots it frees. */
  #releaseOn: { flushed: Promise<unknown>; count: number } | undefined;
  /** Slots held only until an answer already sent is written: its caller may have read it. */
  #unflushed = 0;
  /** Answers finished while the writer was backlogged, in order; each holds its slot. */
  #held: { request: InboundRequest; result: unknown; error: unknown }[] = [];
  /** Whether the held answers wait for the writer already. */
  #holding = false;
  #closedReason: unknown;
  #closed = false;

  constructor(send: (message: Message) => unknown, options: PeerOptions = {}) {
    this.#send = send;
    this.#options = options;
    this.#maxInbound = options.maxInboundRequests ?? 64;
    this.#maxQueued = options.maxQueuedRequests ?? 0;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? Infinity;
    this.#budget = options.inboundTime && new TimeBudget(options.inboundTime);
    this.#reading = options.inboundTime && new TimeBudget({ ...options.inboundTime, burstMs: 0 });
    this.#maxOwedMs = options.inboundTime?.maxOwedMs ?? Infinity;
    this.#answerMsPerChar = options.inboundTime?.answerMsPerChar ?? 0;
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
    const inbound = this.#inbound.get(id as RequestId);
    return (inbound !== undefined && !inbound.cancelled) || this.#queuedIds.has(id as RequestId);
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
      if (id !== undefined) {
        this.#inbound.get(id)?.cancel(new DOMException("Cancelled", "AbortError"));
        if (this.#queuedIds.has(id)) {
          const waiting = this.#queued.findIndex((queued) => queued.message.id === id);
          const { bytes } = this.#unqueue(this.#queued.splice(waiting, 1)[0]);
          const began = this.#budget?.now();
          this.#respond(
            id,
            undefined,
            new ResponseError(ErrorCode.RequestCancelled, "Request cancelled"),
          );
          // With a time share its reading was charged, and this answer is: only the answer counts
          // as waste (an honest plugin's calls that waited for the share are cancelled when its
          // caller's deadline passes: counted by their bytes, they ended it, review 73).
          if (began !== undefined) this.#spendReading(this.#budget!.now() - began);
          this.#options.onWasted?.(began === undefined ? bytes : 0);
        }
      }
      return;
    }
    this.#options.onNotification?.(message.method, message.params);
  }

  #onRequest(
    message: RequestMessage & { id: RequestId },
    bytes: number,
    costMs = 0,
  ): void | Promise<void> {
    if (this.#closed) return;
    this.#spendReading(costMs); // spent already, whatever becomes of the request
    const { id } = message;
    if (this.#inbound.has(id) || this.#queuedIds.has(id)) {
      this.#violation(`request id ${JSON.stringify(id)} reused while still in progress`, bytes);
      return;
    }
    if (this.#options.refuseWhenFull && this.#full()) {
      const owed = this.#reading?.owedMs() ?? 0;
      this.#respond(
        id,
        undefined,
        new ResponseError(
          ErrorCode.Overloaded,
          owed > this.#maxOwedMs
            ? `Overloaded: the caller's share of this peer's time is spent (${
              Math.round(owed)
            } ms owed)`
            : `Overloaded: ${this.#inboundSlots} requests in progress and ${this.#queued.length} waiting`,
        ),
      );
      this.#options.onWasted?.(bytes);
      return;
    }
    if (!this.#room()) {
      this.#queued.push({ message, bytes });
      this.#queuedIds.add(id);
      this.#queuedBytes += bytes;
      this.#awaitBudget();
    } else this.#dispatch(message, bytes);
    return this.#gate();
  }

  /**
   * Charges work done for the sender outside its requests (the reading of
   * its cancels, say) to {@linkcode PeerOptions.inboundTime}; nothing
   * without one.
   */
  charge(ms: number): void {
    this.#spendReading(ms);
  }

  /** Work for what the sender sent, whether it runs or not: paced, and judged by the horizon. */
  #spendReading(ms: number): void {
    this.#budget?.spend(ms);
    this.#reading?.spend(ms);
  }

  /** Whether a request may be dispatched now: a slot is free, and time is left in the budget. */
  #room(): boolean {
    return this.#inboundSlots < this.#maxInbound && (this.#budget?.left() ?? true);
  }

  /**
   * With requests waiting and a slot free, dispatches them once the budget
   * has refilled. Not a second look at the budget: it refills as time
   * passes, and one that had refilled since the look that queued them left
   * them with no timer and nothing else to come (review 73: a flood's last
   * calls drained a few a minute).
   */
  #awaitBudget(): void {
    if (this.#refillTimer !== undefined || this.#closed || this.#queued.length === 0) return;
    if (!this.#budget || this.#inboundSlots >= this.#maxInbound) return;
    this.#refillTimer = setTimeout(() => {
      this.#refillTimer = undefined;
      this.#release(0);
    }, this.#budget.waitMs());
  }

  #unqueue(queued: Queued): Queued {
    this.#queuedIds.delete(queued.message.id);
    this.#queuedBytes -= queued.bytes;
    return queued;
  }

  /**
   * A promise to wait on while every slot and the queue are full (reading
   * waits: a flood is bounded by the pipe); nothing otherwise.
   */
  #gate(): void | Promise<void> {
    if (this.#options.refuseWhenFull) return;
    if (this.#full()) return new Promise((resolve) => this.#slotWaiter = resolve);
  }

  #full(): boolean {
    // Owed past its horizon, a sender is refused whatever the queue holds: what it sends is read,
    // and charged, whether it ever runs or not (it may cancel it first).
    if (this.#reading && this.#reading.owedMs() > this.#maxOwedMs) return true;
    if (this.#room()) return false;
    // Room the sender may count on besides the queue: slots left idle while the budget refills,
    // and, where it is refused rather than paused, slots held only until answers already sent are
    // written (it may have read them, and sent more: review 74, 64 answers of 52 KB in one write).
    // A sender within the slots and the queue together (the SDK keeps to them) is not refused for
    // either alone.
    const unflushed = this.#options.refuseWhenFull ? this.#unflushed : 0;
    const spare = Math.max(0, this.#maxInbound - this.#inboundSlots) + unflushed;
    if (this.#queued.length >= this.#maxQueued + spare) return true;
    // Bytes stay bounded whatever the slots: room for calls, not for what they carry (review 75: a
    // plugin that stopped reading held 64 slots unflushed, and 144 MB of calls queued behind
    // them). Those queued are among the sender's unanswered, which the SDK keeps below the bytes
    // before it sends one more, as this lets one more in.
    return this.#queuedBytes >= this.#maxQueuedBytes;
  }

  /** Runs the handler of a request given a slot. */
  #dispatch(message: RequestMessage & { id: RequestId }, bytes: number): void {
    const { id } = message;
    const request = new InboundRequest(id, bytes, this.#budget);
    this.#inbound.set(id, request);
    this.#inboundSlots++;
    const handler = this.#options.onRequest;
    let outcome: unknown;
    const began = this.#budget?.now();
    try {
      if (!handler) {
        // Never the whole name: it is the peer's text, and could be megabytes.
        throw new ResponseError(
          ErrorCode.MethodNotFound,
          `Method "${neutralize(message.method, 64)}" not found`,
        );
      }
      outcome = handler(message.method, message.params, request);
    } catch (error) {
      this.#finishInbound(request, undefined, error);
      return;
    } finally {
      // What the handler took of this thread, `params`' parse included (read lazily, above).
      if (began !== undefined) this.#budget!.spend(this.#budget!.now() - began);
    }
    if (typeof (outcome as { then?: unknown } | null)?.then === "function") {
      Promise.resolve(outcome).then(
        (result) => this.#finishInbound(request, result, undefined),
        (error) => this.#finishInbound(request, undefined, error),
      );
    } else {
      // Answered in the same tick: the response is queued before anything else is read.
      this.#finishInbound(request, outcome, undefined);
    }
  }

  #finishInbound(request: InboundRequest, result: unknown, error: unknown): void {
    if (this.#closed) {
      this.#inbound.delete(request.id);
      return this.#release(1);
    }
    // Held in the inbound map until answered: a cancel meanwhile is the caller's, not unknown.
    if (this.#held.length > 0 || this.#options.backlogged?.()) {
      this.#held.push({ request, result, error });
      return this.#awaitWriter();
    }
    this.#answer(request, result, error);
  }

  /** Sends a finished request's answer and frees its slot once the answer is written. */
  #answer(request: InboundRequest, result: unknown, error: unknown): void {
    const { id } = request;
    this.#inbound.delete(id);
    if (request.cancelled) {
      error = new ResponseError(ErrorCode.RequestCancelled, "Request cancelled");
    }
    // The answer's serialisation and write are the request's too: a small call may fetch a
    // large result (review 73: 256 KiB documents, three times the caller's CPU, unmeasured).
    const began = this.#budget?.now();
    const sent = this.#respond(id, result, error);
    if (began !== undefined) {
      this.#budget!.spend(this.#budget!.now() - began + sent * this.#answerMsPerChar);
    }
    const flushed = this.#options.flushed?.();
    if (!flushed) return this.#release(1);
    this.#unflushed++;
    // Answers written by one write free their slots together: one reaction per write, not per answer.
    if (flushed === this.#releaseOn?.flushed) {
      this.#releaseOn.count++;
      return;
    }
    const batch = this.#releaseOn = { flushed, count: 1 };
    flushed.then(() => {
      if (this.#releaseOn === batch) this.#releaseOn = undefined;
      this.#unflushed -= batch.count;
      this.#release(batch.count);
    });
  }

  /** Sends held answers once the writer has written what it had, as many as it has room for. */
  #awaitWriter(): void {
    if (this.#holding) return;
    const flushed = this.#options.flushed?.();
    if (!flushed) return this.#sendHeld(true);
    this.#holding = true;
    flushed.then(() => {
      this.#holding = false;
      this.#sendHeld(false);
    });
  }

  #sendHeld(all: boolean): void {
    while (!this.#closed && this.#held.length > 0 && (all || !this.#options.backlogged?.())) {
      const { request, result, error } = this.#held.shift()!;
      this.#answer(request, result, error);
    }
    if (this.#closed) return void (this.#held = []);
    if (this.#held.length > 0) this.#awaitWriter();
  }

  /** Frees `count` inbound slots: queued requests take them, and the reader wakes if it waited. */
  #release(count: number): void {
    this.#inboundSlots -= count;
    while (!this.#closed && this.#queued.length > 0 && this.#room()) {
      const { message, bytes } = this.#unqueue(this.#queued.shift()!);
      this.#dispatch(message, bytes);
    }
    this.#awaitBudget();
    this.#wakeReader();
  }

  /** Wakes the reader if it waits for room that there is now. */
  #wakeReader(): void {
    if (this.#slotWaiter && !this.#full()) {
      const wake = this.#slotWaiter;
      this.#slotWaiter = undefined;
      wake();
    }
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
  #trySend(message: Message): number {
    try {
      return sizeOf(this.#send(message));
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
        return sizeOf(this.#send({ jsonrpc: "2.0", id, result: result ?? null }));
      } catch (cause) {
        text = `Result is not JSON-serialisable or over the line cap: ${
          String(cause).slice(0, 200)
        }`;
      }
      error = new ResponseError(ErrorCode.InternalError, text);
    }
    const { code, message, data } = error instanceof ResponseError
      ? error
      : { code: ErrorCode.InternalError, message: String(error), data: undefined };
    if (data !== undefined) {
      try {
        return sizeOf(this.#send({ jsonrpc: "2.0", id, error: { code, message, data } }));
      } catch {
        // data that cannot be sent: the answer goes without it
      }
    }
    const sent = this.#trySend({ jsonrpc: "2.0", id, error: { code, message } });
    if (sent >= 0) return sent;
    return Math.max(
      0,
      this.#trySend({
        jsonrpc: "2.0",
        id,
        error: { code, message: `Error message cannot be sent: ${message.slice(0, 200)}` },
      }),
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
    for (const request of this.#inbound.values()) request.cancel(reason);
    this.#queued = [];
    this.#queuedIds.clear();
    this.#queuedBytes = 0;
    this.#held = [];
    clearTimeout(this.#refillTimer);
    this.#slotWaiter?.();
    this.#slotWaiter = undefined;
  }
}
