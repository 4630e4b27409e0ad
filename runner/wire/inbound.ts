/**
 * The receiving half of a peer: inbound requests in their slots, the queue
 * beyond them, and the sender's share of this thread's time. The `Peer` hands it requests and
 * cancels, and sends what it answers.
 * @module
 */

import { ErrorCode, type RequestId, type RequestMessage } from "./protocol.ts";
import { ResponseError } from "./response_error.ts";
import { neutralize } from "./text.ts";
import { TimeBudget, type TimeShare } from "./time_budget.ts";

/** What a request handler receives besides method and params. */
export interface RequestContext {
  /** The request's id. */
  id: RequestId;
  /** Aborted when the caller sends `$/cancel` for this id or the peer closes. */
  signal: AbortSignal;
  /** The request's size as the receiver measured it (`Peer.accept`'s `bytes`), or 0. */
  bytes?: number;
  /**
   * Charges work done for this request outside its handler's first run (a
   * result's check, say) to the peer's {@linkcode InboundOptions.inboundTime}.
   */
  charge?(ms: number): void;
}

/** Options for the inbound side of a `Peer` (part of its options). */
export interface InboundOptions {
  /** Answers inbound requests. Without it every request gets "method not found". */
  onRequest?: (method: string, params: unknown, context: RequestContext) => unknown;
  /**
   * Inbound requests handled at once. Beyond it up to
   * {@linkcode InboundOptions.maxQueuedRequests} wait their turn while the peer
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
   * measured them: `Peer.accept`'s `bytes`): the queue is full at
   * `maxQueuedRequests` requests or at this many bytes, whichever comes
   * first. A held request keeps its line, parsed or not, so the count
   * alone would let a queue of long lines hold gigabytes.
   * @default {Infinity}
   */
  maxQueuedBytes?: number;
  /**
   * The share of this thread's time inbound requests may take, as a token
   * bucket: what the caller tells `Peer.accept` reading them cost,
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
}

/** What the inbound side asks of its peer: an answer sent, a violation told. */
export interface InboundReplies {
  /** Answers request `id`; the answer's size, as the send function tells it (else 0). */
  respond(id: RequestId, result: unknown, error: unknown): number;
  /** Reports a survivable violation found in a message of `bytes`. */
  violation(detail: string, bytes: number): void;
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

interface Queued {
  message: RequestMessage & { id: RequestId };
  bytes: number;
}

/**
 * Inbound requests: their slots, the queue beyond them, the sender's time
 * share. One per `Peer`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Inbound } from "./inbound.ts";
 * const answers: unknown[] = [];
 * const inbound = new Inbound({ onRequest: (_method, params) => params }, {
 *   respond: (id, result) => (answers.push({ id, result }), 0),
 *   violation: () => {},
 * });
 * inbound.receive({ jsonrpc: "2.0", id: 1, method: "echo", params: 7 }, 0);
 * assert.deepEqual(answers, [{ id: 1, result: 7 }]);
 * ```
 */
export class Inbound {
  #options: InboundOptions;
  #replies: InboundReplies;
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
  #closed = false;

  constructor(options: InboundOptions, replies: InboundReplies) {
    this.#options = options;
    this.#replies = replies;
    this.#maxInbound = options.maxInboundRequests ?? 64;
    this.#maxQueued = options.maxQueuedRequests ?? 0;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? Infinity;
    this.#budget = options.inboundTime && new TimeBudget(options.inboundTime);
    this.#reading = options.inboundTime && new TimeBudget({ ...options.inboundTime, burstMs: 0 });
    this.#maxOwedMs = options.inboundTime?.maxOwedMs ?? Infinity;
    this.#answerMsPerChar = options.inboundTime?.answerMsPerChar ?? 0;
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

  /**
   * Takes a `$/cancel` of request `id`: one being handled is told (its
   * signal aborts); one waiting for a slot leaves the queue, answered
   * cancelled.
   */
  cancel(id: RequestId): void {
    this.#inbound.get(id)?.cancel(new DOMException("Cancelled", "AbortError"));
    if (!this.#queuedIds.has(id)) return;
    const waiting = this.#queued.findIndex((queued) => queued.message.id === id);
    const { bytes } = this.#unqueue(this.#queued.splice(waiting, 1)[0]);
    const began = this.#budget?.now();
    this.#replies.respond(
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

  /**
   * Takes one request: dispatched if a slot is free and time is left,
   * queued if there is room, else refused (`refuseWhenFull`) or waited for:
   * a returned promise asks the reader to pause until it settles. `bytes`
   * and `costMs` are `Peer.accept`'s.
   */
  receive(
    message: RequestMessage & { id: RequestId },
    bytes: number,
    costMs = 0,
  ): void | Promise<void> {
    if (this.#closed) return;
    this.#spendReading(costMs); // spent already, whatever becomes of the request
    const { id } = message;
    if (this.#inbound.has(id) || this.#queuedIds.has(id)) {
      this.#replies.violation(
        `request id ${JSON.stringify(id)} reused while still in progress`,
        bytes,
      );
      return;
    }
    if (this.#options.refuseWhenFull && this.#full()) {
      const owed = this.#reading?.owedMs() ?? 0;
      this.#replies.respond(
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
   * its cancels, say) to {@linkcode InboundOptions.inboundTime}; nothing
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
    const { id } = request;
    this.#inbound.delete(id);
    if (request.cancelled && !this.#closed) {
      error = new ResponseError(ErrorCode.RequestCancelled, "Request cancelled");
    }
    if (!this.#closed) {
      // The answer's serialisation and write are the request's too: a small call may fetch a
      // large result (review 73: 256 KiB documents, three times the caller's CPU, unmeasured).
      const began = this.#budget?.now();
      const sent = this.#replies.respond(id, result, error);
      if (began !== undefined) {
        this.#budget!.spend(this.#budget!.now() - began + sent * this.#answerMsPerChar);
      }
    }
    const flushed = this.#closed ? undefined : this.#options.flushed?.();
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

  /** Aborts every handler and drops what waits: queued requests, the refill. */
  close(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const request of this.#inbound.values()) request.cancel(reason);
    this.#queued = [];
    this.#queuedIds.clear();
    this.#queuedBytes = 0;
    clearTimeout(this.#refillTimer);
    this.#slotWaiter?.();
    this.#slotWaiter = undefined;
  }
}
