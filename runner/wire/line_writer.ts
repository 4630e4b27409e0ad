/**
 * The outgoing half of a line transport: JSON values become lines, lines
 * sent in the same tick are coalesced into one write, each write waits for
 * the one before (the pipe's backpressure), and what waits behind a write in
 * flight is bounded in bytes; answers that do not fit wait beside it, bounded
 * as much again.
 * @module
 */

import { DEFAULT_MAX_LINE_BYTES } from "./protocol.ts";

/**
 * Where lines are written: a stream, or a direct sink (the plugin's stdout
 * written with `Deno.stdout.write`, which skips a stream queue per write).
 */
export type LineSink = WritableStream<Uint8Array> | {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
};

/** Options for {@linkcode LineWriter}. */
export interface LineWriterOptions {
  /**
   * Largest line sent, in bytes, newline excluded.
   * @default {16 MiB}
   */
  maxLineBytes?: number;
  /**
   * Most text that may wait behind a write in flight, counted in UTF-16
   * code units (bytes, for ASCII). Past it the message is dropped, the
   * writer stops, and `onQueueFull` is told: the reader on the other side is
   * not reading. Lines sent in one tick while nothing is in flight form the
   * next write and are not counted. Answers (lines sent with `answer` set)
   * that would pass it wait beside the queue, in order, and join it as
   * writes land; past as many bytes again of those, the same.
   * @default {64 MiB}
   */
  maxQueuedBytes?: number;
  /** Told once when `maxQueuedBytes` is passed, with how much was waiting (answers beside included). */
  onQueueFull?: (queuedBytes: number) => void;
}

interface Batch {
  promise: Promise<boolean>;
  resolve(written: boolean): void;
}

function newBatch(): Batch {
  let resolve!: (written: boolean) => void;
  const promise = new Promise<boolean>((r) => resolve = r);
  return { promise, resolve };
}

const encoder = new TextEncoder();

/** Byte length of `text` encoded as UTF-8, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** A tighter cap than the line cap for one message, and what to say when it is passed. */
export interface LineCap {
  /** Most bytes of the message's line. */
  bytes: number;
  /** The error's message for a line of `bytes`. */
  refusal(bytes: number): string;
  /** Told the line's size in bytes once it is queued (not when it is refused). */
  sent?(bytes: number): void;
}

/**
 * Lines out, coalesced per tick, each write waiting for the previous one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineWriter } from "./line_writer.ts";
 * const chunks: Uint8Array[] = [];
 * const writer = new LineWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
 * writer.send({ a: 1 });
 * writer.send({ b: 2 });
 * assert.equal(await writer.flushed(), true);
 * assert.equal(new TextDecoder().decode(chunks[0]), '{"a":1}\n{"b":2}\n');
 * ```
 */
export class LineWriter {
  /** Largest line sent; the plugin adopts the host's value at the handshake. */
  maxLineBytes: number;
  #writer: { write(bytes: Uint8Array): Promise<void>; close(): Promise<void> };
  #queue: string[] = [];
  /**
   * Characters in `#queue`: what the next write will carry. Counted against
   * the cap while a write is in flight; before one, lines sent in the same
   * tick are not, answers aside.
   */
  #queuedChars = 0;
  /**
   * Answers that did not fit in the next write, in order: they join the
   * queue as writes land. Their count is the peer's slots, so an
   * honest reader of 64 answers of 1 MiB finished at once is not taken for
   * one that stopped reading (review 74); their bytes are bounded all the
   * same (review 78: a reader dripping 8 MB/s held 64 answers of 15 MiB).
   */
  #beside: string[] = [];
  #besideChars = 0;
  #maxQueued: number;
  #onQueueFull: ((queuedBytes: number) => void) | undefined;
  #batch: Batch | undefined;
  #pumping: Promise<void> | undefined;
  #inFlight: Promise<void> | undefined;
  #broken = false;
  #closed = false;

  constructor(writable: LineSink, options: LineWriterOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.#maxQueued = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(this.#maxQueued) || this.#maxQueued < 1) {
      throw new TypeError(
        `Cannot create transport: "maxQueuedBytes" must be a positive integer, got ${this.#maxQueued}`,
      );
    }
    this.#onQueueFull = options.onQueueFull;
    // Told apart by shape: naming the global `WritableStream` makes Deno load its streams code,
    // about 3 ms of a plugin's start, which a plugin writing with `writeSync` never needs.
    if ("getWriter" in writable) {
      const writer = writable.getWriter();
      // A write to a dead peer rejects `closed` too; the read side reports the death.
      writer.closed.catch(() => this.#broken = true);
      this.#writer = writer;
    } else {
      this.#writer = writable;
    }
  }

  /** True until a write failed, the queue overflowed, or {@linkcode close} was called. */
  get writable(): boolean {
    return !this.#broken && !this.#closed;
  }

  /**
   * Queues one JSON value as a line. Throws synchronously when the value
   * cannot be serialised or its line would exceed {@linkcode maxLineBytes};
   * after a failed write, an overflow or {@linkcode close}, lines are dropped.
   * An `answer` (to a request of the reader's, which its slots bound) that
   * would pass `maxQueuedBytes` waits beside the queue instead. Returns the
   * line's length in characters (what its write will cost).
   */
  send(message: unknown, cap?: LineCap, answer = false): number {
    const text = JSON.stringify(message);
    if (text === undefined) throw new TypeError("Cannot send a message that is not JSON");
    if (cap && text.length * 3 > cap.bytes && utf8Length(text) > cap.bytes) {
      throw new RangeError(cap.refusal(utf8Length(text)));
    }
    if (text.length * 3 > this.maxLineBytes && utf8Length(text) > this.maxLineBytes) {
      throw new RangeError(
        `Cannot send a message of ${
          utf8Length(text)
        } bytes: the line cap is ${this.maxLineBytes} bytes (option "maxLineBytes", which counts ` +
          "the whole line, envelope included)",
      );
    }
    cap?.sent?.(utf8Length(text));
    if (!this.writable) return text.length;
    // Answers are judged against the next write whether one is in flight or not: 64 answered in
    // one tick made one write of them all, uncounted (64 of 3 MiB, 192 MiB, for a reader that
    // never read).
    if (answer && (this.#beside.length > 0 || this.#queuedChars + text.length > this.#maxQueued)) {
      this.#beside.push(text);
      this.#besideChars += text.length;
      // One answer waits beside whatever its length (a line may be longer than the queue cap).
      if (this.#besideChars > this.#maxQueued && this.#beside.length > 1) this.#overflow();
      else this.#pumping ??= this.#pump();
      return text.length;
    }
    if (this.#inFlight !== undefined && this.#queuedChars + text.length > this.#maxQueued) {
      this.#overflow(text.length);
      return text.length;
    }
    this.#queue.push(text);
    this.#queuedChars += text.length;
    this.#pumping ??= this.#pump();
    return text.length;
  }

  /**
   * The reader is not reading: everything waiting is dropped, and the writer
   * stops. `refused` is the line that did not fit behind the write, if any.
   */
  #overflow(refused = 0): void {
    this.#broken = true;
    const waited = this.#queuedChars + refused + this.#besideChars;
    this.#queue = [];
    this.#queuedChars = 0;
    this.#beside = [];
    this.#besideChars = 0;
    this.#onQueueFull?.(waited);
  }

  /**
   * Answers that waited beside the queue join the write about to begin
   * while it stays within the queue cap; one at least when nothing else
   * waits (a line may be longer than the queue cap).
   */
  #admitBeside(): void {
    let taken = 0;
    for (; taken < this.#beside.length; taken++) {
      const text = this.#beside[taken];
      if (this.#queue.length > 0 && this.#queuedChars + text.length > this.#maxQueued) break;
      this.#besideChars -= text.length;
      this.#queue.push(text);
      this.#queuedChars += text.length;
    }
    // One splice per write, not a shift per answer: a long array's shift moves all of it (review
    // 79: 100,000 answers of 130 bytes beside held the host's thread 5 s as a write landed).
    if (taken > 0) this.#beside.splice(0, taken);
  }

  /**
   * Resolves once every line queued so far is written (`true`), or the
   * stream broke (`false`). Never rejects. A promise is made only on request:
   * most senders do not wait.
   */
  flushed(): Promise<boolean> {
    if (this.#queue.length === 0 && this.#beside.length === 0 && this.#inFlight === undefined) {
      return Promise.resolve(this.writable);
    }
    this.#batch ??= newBatch();
    return this.#batch.promise;
  }

  async #pump(): Promise<void> {
    await Promise.resolve(); // let the rest of this tick's sends join the batch
    while (this.#queue.length > 0 || this.#beside.length > 0) {
      this.#admitBeside();
      // A flushed() waits for every line sent before it: with answers still beside, a later write.
      const batch = this.#beside.length === 0 ? this.#batch : undefined;
      if (batch) this.#batch = undefined;
      const text = this.#queue.length === 1 ? this.#queue[0] + "\n" : this.#queue.join("\n") + "\n";
      this.#queue = [];
      this.#queuedChars = 0;
      // Answers still beside stay beside until this write lands: moved behind it, they took the
      // room the cap gives what the host sends, and a line of the host's sent during a write of
      // answers ended a plugin that read all it was sent (review 79).
      let written = false;
      if (!this.#broken) {
        try {
          this.#inFlight = this.#writer.write(encoder.encode(text));
          await this.#inFlight;
          written = true;
        } catch {
          this.#broken = true;
        } finally {
          this.#inFlight = undefined;
        }
      }
      batch?.resolve(written);
    }
    this.#pumping = undefined;
    // A flushed() made while the last write was in flight waits for that write only.
    this.#batch?.resolve(this.writable);
    this.#batch = undefined;
  }

  /** Flushes queued lines, then closes the writable side (the peer sees EOF). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pumping;
    try {
      await this.#writer.close();
    } catch {
      // Already closed or broken: the peer has gone, which is what close wants.
    }
  }

  /**
   * Stops writing at once: queued lines are dropped and a write in flight
   * is abandoned, so a reader that never reads cannot hold the writer. For
   * a peer that has gone (or must go); the other side sees EOF.
   */
  abort(): void {
    this.#closed = true;
    this.#queue = [];
    this.#queuedChars = 0;
    this.#beside = [];
    this.#besideChars = 0;
    const writer = this.#writer as { abort?: (reason?: unknown) => Promise<void> };
    if (typeof writer.abort === "function") writer.abort().catch(() => {});
    else this.#writer.close().catch(() => {});
  }
}
