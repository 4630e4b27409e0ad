/**
 * Bytes <-> lines <-> JSON values over a pair of byte streams, used by both
 * the host (child stdout/stdin) and the plugin (its own stdin/stdout).
 * @module
 */

import { concatBytes, withRoom } from "./bytes.ts";
import { type JsonScan, scanJson, type StructureLimits } from "./json_scan.ts";
import {
  type LineCap,
  type LineSink,
  LineWriter,
  type LineWriterOptions,
  utf8Length,
} from "./line_writer.ts";
import { DEFAULT_MAX_LINE_BYTES } from "./protocol.ts";

/** Options for {@linkcode LineTransport}. */
export interface LineTransportOptions extends LineWriterOptions {
  /**
   * Largest line accepted or sent, in bytes, newline excluded. A longer
   * incoming line stops the transport with a `RangeError`.
   * @default {16 MiB}
   */
  maxLineBytes?: number;
  /**
   * Longest a line may stay unfinished, from its first byte, in ms, when
   * reading a stream: past it the transport stops with a `RangeError`, as
   * for a line over the cap. A peer that began a line and never ended it
   * kept up to `maxLineBytes` of the reader's memory, and its Worker, for
   * as long as it lived (review 95).
   * @default {Infinity}
   */
  maxPartialLineMs?: number;
  /**
   * Scan every incoming line before it is parsed (the host's mode: the
   * plugin is untrusted): lines are checked against the structure caps by
   * {@linkcode scanJson} and handed to `onScanned` unparsed, except lines
   * too short to break a cap (at most twice `maxDepth` bytes), which are
   * parsed and handed to `onMessage`. Without it each line goes to
   * `JSON.parse` and `onMessage` (the plugin's mode).
   */
  scan?: LineScanOptions;
}

/** How the host's transport scans incoming lines. */
export interface LineScanOptions {
  /** The structure caps each line must stay within. */
  limits: StructureLimits;
  /**
   * Lines longer than this many bytes are scanned by `offload` (off the
   * main thread), when it is given.
   * @default {65536}
   */
  inlineMaxBytes?: number;
  /**
   * Lines up to this many bytes are also handed on as text, decoded with
   * the rest of their chunk: parsing such a line whole is cheaper than
   * parsing only what is needed, and bounded by this size.
   * @default {4096}
   */
  textMaxBytes?: number;
  /**
   * Starts scanning one long line elsewhere (a Worker): the line's bytes are
   * streamed to it chunk by chunk as they arrive, so the main thread never
   * copies a long line whole.
   */
  offload?: () => LineOffload;
}

/** One long line on its way to be scanned elsewhere. */
export interface LineOffload {
  /** Adds the line's next bytes; their buffer becomes the offload's (it may transfer it). */
  append(part: Uint8Array): void;
  /**
   * The line is complete: resolves with its bytes (a final `\r` dropped),
   * their scan, and the time the offload spent on them, where it tells
   * (`ms`, its own thread's).
   */
  finish(): Promise<{ bytes: Uint8Array; scan: JsonScan; ms?: number }>;
}

/** The most a long line's bytes wait on the main thread before going to its offload at once. */
const OFFLOAD_BATCH_BYTES = 64 * 1024;

/**
 * The bytes of the line being read, copied into one buffer grown by
 * doubling; once a line in scan mode is longer than `inlineMaxBytes`,
 * streamed to an offload in batches of {@linkcode OFFLOAD_BATCH_BYTES}.
 * What a line costs the reader is its bytes, however they arrive: a line
 * dripped a byte per read would otherwise be a part (an object, a message)
 * per byte (reviews 32 and 33).
 */
class PartialLine {
  bytes = 0;
  /** When the line's first byte came (`performance.now()`). */
  began = 0;
  stream: LineOffload | undefined;
  /** The main thread's time on a streamed line's parts (copied, handed on), in ms. */
  spentMs = 0;
  #held = new Uint8Array(0);
  #length = 0;
  #inlineMax: number;
  #offload: (() => LineOffload) | undefined;

  constructor(inlineMax: number, offload: (() => LineOffload) | undefined) {
    this.#inlineMax = inlineMax;
    this.#offload = offload;
  }

  add(part: Uint8Array): void {
    if (this.bytes === 0) this.began = performance.now();
    this.bytes += part.length;
    // Timed only once the line is long (streamed): short lines, every answer's, pay nothing.
    const began = this.#offload && this.bytes > this.#inlineMax ? performance.now() : undefined;
    this.#hold(part);
    if (this.stream) {
      if (this.#length >= OFFLOAD_BATCH_BYTES) this.#send();
    } else if (this.#offload && this.bytes > this.#inlineMax) {
      this.stream = this.#offload();
      this.#send();
    }
    if (began !== undefined) this.spentMs += performance.now() - began;
  }

  /** The bytes held (a view, valid until the next `add`), emptied; the offload gets the rest. */
  take(): Uint8Array {
    if (this.stream) this.#send();
    const held = this.#held.subarray(0, this.#length);
    this.reset();
    return held;
  }

  reset(): void {
    this.bytes = 0;
    this.spentMs = 0;
    this.stream = undefined;
    this.#held = new Uint8Array(0);
    this.#length = 0;
  }

  #hold(part: Uint8Array): void {
    const needed = this.#length + part.length;
    this.#held = withRoom(this.#held, this.#length, needed);
    this.#held.set(part, this.#length);
    this.#length = needed;
  }

  /** What is held goes to the offload, as one buffer of its own (it may be transferred). */
  #send(): void {
    if (this.#length === 0) return;
    this.stream!.append(this.#held.slice(0, this.#length));
    this.#length = 0;
  }
}

/**
 * The deadline of the line being read: one timer while a line is
 * unfinished, armed at its first byte's chunk and cleared once it ends (not
 * one per read: a line dripped a byte per read costs no timer per byte).
 */
class PartialDeadline {
  passed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #began = -1;

  constructor(readonly ms: number, readonly onPassed: () => unknown) {}

  /** After a chunk: arms the timer for a line begun, clears it for a line ended. */
  watch(line: PartialLine): void {
    if (this.ms === Infinity) return;
    if (line.bytes === 0) return this.clear();
    if (this.#timer !== undefined && this.#began === line.began) return;
    this.clear();
    this.#began = line.began;
    this.#timer = setTimeout(() => {
      this.passed = true;
      void Promise.resolve(this.onPassed()).catch(() => {});
    }, Math.max(0, line.began + this.ms - performance.now()));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export type { LineSink };

/**
 * Where lines are read from without a stream: `Deno.stdin` itself. Reading
 * it directly costs a plugin's start about 5 ms less than its `readable`
 * (Deno loads its streams code on first use), and each chunk one promise
 * instead of a stream's queue.
 */
export interface ByteSource {
  /** Reads into `buffer`; resolves with the count, or null at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** A byte source's read size: what a pipe holds. */
const SOURCE_CHUNK_BYTES = 64 * 1024;

/** Callbacks that receive what the transport reads. */
export interface LineHandlers {
  /**
   * One parsed JSON value per line (in scan mode, per line too short to
   * break a structure cap). A returned promise pauses reading until it
   * settles: that is how a receiver bounds a flood of requests.
   */
  onMessage?(value: unknown, line: string): void | Promise<void>;
  /**
   * In scan mode, one line that is JSON or over a structure cap, unparsed:
   * its bytes, its scan, its text when short, and `costMs`, what reading and
   * scanning it took this thread (and its offload's). A returned promise
   * pauses reading like `onMessage`'s.
   */
  onScanned?(
    bytes: Uint8Array,
    scan: JsonScan,
    text: string | undefined,
    costMs: number,
  ): void | Promise<void>;
  /**
   * A non-empty line that is not JSON (stray output), and its length (in
   * scan mode, bytes; else characters). In scan mode, at most its first 256
   * bytes, decoded.
   */
  onStray(line: string, length: number): void;
  /**
   * A line of JSON white space only, which the protocol ignores: told with
   * its length in bytes, so a receiver can count what a flood of them costs
   * it (a 16 MiB line of spaces is scanned like any other).
   */
  onBlank?(bytes: number): void;
  /**
   * Called after each chunk's lines, before the next read; a returned
   * promise delays the read. The plugin uses it to write the answers to a
   * chunk before asking for more input, which saves a wake-up per call.
   */
  afterChunk?(): void | Promise<unknown>;
}

const NEWLINE = 0x0a;

/**
 * The text of a run of short lines in a chunk (see `#shortLinesText`): read
 * from `at` on; `stop`, the byte where the run ends (a long line, or past
 * the region).
 */
interface RegionText {
  value: string;
  at: number;
  ascii: boolean;
  stop: number;
}
/**
 * Keeps a BOM: it is no JSON white space, and a decoder that drops one where
 * it begins what it decodes judged a line by where the pipe cut it (review 95:
 * a short line led by one was a message at a chunk's start, stray after
 * another line).
 */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Reading that never waits (a pipe that always holds bytes: Deno then
 * completes each read at once) never lets the event loop turn, so no timer
 * fires: not a call's deadline, a health ping or a kill (review 57: lines of
 * spaces held a host's loop 20 s). {@linkcode loopTurnOwed} gives it a turn
 * once reading has held it this long with a watch's timer unfired: at most
 * `WATCH_AFTER_MS + HOLD_MS` (40 ms) without a turn.
 */
const HOLD_MS = 20;
/**
 * Reading this long after the last turn a timer saw arms a timer to see the
 * next. Not less: every timer is a wake-up some call waits behind (at 5 ms,
 * sequential p99 1.18x).
 */
const WATCH_AFTER_MS = 20;

/**
 * The event loop's last turn that a timer saw, and the watch that looks for
 * the next: one for every reader in the process, since they share the loop.
 * A read's own length tells nothing: with several plugins flooding at once,
 * each reader's await covered the others' work and looked like a wait
 * (review 62). Busy reading arms at most one timer every 20 ms (one per read
 * cost each sequential call a wake-up: p50 1.14x).
 */
const loop = { lastTurn: performance.now(), watchedSince: undefined as number | undefined };

/** After a chunk is handled: a promise to await when the loop is owed a turn. */
function loopTurnOwed(): Promise<void> | undefined {
  const now = performance.now();
  if (loop.watchedSince === undefined) {
    if (now - loop.lastTurn < WATCH_AFTER_MS) return undefined;
    loop.watchedSince = now;
    setTimeout(() => {
      loop.watchedSince = undefined;
      loop.lastTurn = performance.now();
    }, 0);
    return undefined;
  }
  if (now - loop.watchedSince < HOLD_MS) return undefined;
  // The watch's timer is due first, so the loop has turned once this one fires.
  return new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** JSON's own white space: space, tab, carriage return (a line feed ends the line). */
function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0d;
}

/** Whether a character can begin a JSON value: `{ [ " - 0-9 t f n`. */
function beginsJson(code: number): boolean {
  return code === 0x7b || code === 0x5b || code === 0x22 || code === 0x2d ||
    (code >= 0x30 && code <= 0x39) || code === 0x74 || code === 0x66 || code === 0x6e;
}

/**
 * Newline-delimited JSON over two byte streams. Writes made in the same tick
 * are coalesced into one write; each write waits for the previous one, which
 * is how the pipe's backpressure reaches the writer.
 *
 * @example Round trip over an in-memory pipe
 * ```ts
 * import { LineTransport } from "./transport.ts";
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const empty = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
 * const writer = new LineTransport(empty, pipe.writable);
 * const reader = new LineTransport(pipe.readable, new WritableStream());
 * const got: unknown[] = [];
 * const done = reader.run({ onMessage: (v) => void got.push(v), onStray() {} });
 * writer.send({ hello: "world" });
 * await writer.close();
 * await done;
 * if (JSON.stringify(got) !== '[{"hello":"world"}]') throw new Error("lost a line");
 * ```
 */
export class LineTransport {
  #readable: ReadableStream<Uint8Array> | ByteSource;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #writer: LineWriter;
  #maxLineBytes: number;
  #maxPartialLineMs: number;
  #scan: Required<Omit<LineScanOptions, "offload">> & Pick<LineScanOptions, "offload"> | undefined;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(
    readable: ReadableStream<Uint8Array> | ByteSource,
    writable: LineSink,
    options: LineTransportOptions = {},
  ) {
    this.#maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(this.#maxLineBytes) || this.#maxLineBytes < 1024) {
      throw new TypeError(
        `Cannot create transport: "maxLineBytes" must be an integer of at least 1024, got ${this.#maxLineBytes}`,
      );
    }
    this.#maxPartialLineMs = options.maxPartialLineMs ?? Infinity;
    this.#readable = readable;
    this.#writer = new LineWriter(writable, { ...options, maxLineBytes: this.#maxLineBytes });
    if (options.scan) {
      this.#scan = { inlineMaxBytes: 64 * 1024, textMaxBytes: 4096, ...options.scan };
    }
  }

  /** Largest line accepted or sent; the plugin adopts the host's value at the handshake. */
  get maxLineBytes(): number {
    return this.#maxLineBytes;
  }

  set maxLineBytes(bytes: number) {
    this.#maxLineBytes = bytes;
    this.#writer.maxLineBytes = bytes;
  }

  /** True until a write failed, the outgoing queue overflowed, or {@linkcode close} was called. */
  get writable(): boolean {
    return this.#writer.writable;
  }

  /**
   * Reads until end of stream. Resolves at EOF; rejects with a `RangeError`
   * when a line exceeds {@linkcode maxLineBytes}, after cancelling the stream.
   */
  async run(handlers: LineHandlers): Promise<void> {
    const source = this.#readable;
    // By shape, not `instanceof ReadableStream`: that global loads Deno's streams code (line_writer.ts).
    if (!("getReader" in source)) return await this.#runSource(source, handlers);
    const reader = this.#reader = source.getReader();
    const deadline = new PartialDeadline(this.#maxPartialLineMs, () => reader.cancel());
    try {
      const line = this.#partialLine();
      while (true) {
        const { value: chunk, done } = await reader.read();
        if (deadline.passed) throw this.#stalled(line.bytes);
        if (done) break;
        const pending = this.#take(line, chunk, handlers);
        if (pending) await pending;
        deadline.watch(line);
        const turn = loopTurnOwed();
        if (turn) await turn;
      }
      await this.#end(line, handlers);
    } catch (error) {
      await reader.cancel().catch(() => {});
      throw error;
    } finally {
      deadline.clear();
      reader.releaseLock();
    }
  }

  #stalled(bytes: number): RangeError {
    return new RangeError(
      `Line left unfinished for more than ${this.#maxPartialLineMs} ms (${bytes} bytes, no newline)`,
    );
  }

  /**
   * {@linkcode run} for a byte source, read into one buffer, read into again
   * once a chunk's lines are delivered (decoded, or the rest of a line
   * copied); a scan hands lines on as bytes, so it gets each read as a copy
   * of its own size.
   */
  async #runSource(source: ByteSource, handlers: LineHandlers): Promise<void> {
    const line = this.#partialLine();
    const buffer = new Uint8Array(SOURCE_CHUNK_BYTES);
    // No turn owed here: this is the plugin's stdin, the host's own input, and a timer on the
    // plugin's path loads Deno's timers at its start (+12 ms, +1.6 MiB in an A/B).
    while (true) {
      const count = await source.read(buffer);
      if (count === null) break;
      if (count === 0) {
        // Deno.stdin never reads nothing; a source that does must not starve the event loop.
        await new Promise((resolve) => setTimeout(resolve, 0));
        continue;
      }
      const chunk = this.#scan ? buffer.slice(0, count) : buffer.subarray(0, count);
      const pending = this.#take(line, chunk, handlers);
      if (pending) await pending;
    }
    await this.#end(line, handlers);
  }

  #partialLine(): PartialLine {
    return new PartialLine(this.#scan?.inlineMaxBytes ?? Infinity, this.#scan?.offload);
  }

  /**
   * Delivers the lines `chunk` completes and keeps the rest (copied: the
   * chunk's buffer may be read into again); a promise only where a handler
   * asked to pause.
   */
  #take(line: PartialLine, chunk: Uint8Array, handlers: LineHandlers): void | Promise<void> {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) return this.#extend(line, chunk);
    const gate = this.#deliverChunk(line, chunk, last, handlers);
    const rest = last + 1 < chunk.length ? chunk.subarray(last + 1) : undefined;
    if (gate) return gate.then(() => this.#afterChunk(line, rest, handlers));
    return this.#afterChunk(line, rest, handlers);
  }

  #afterChunk(
    line: PartialLine,
    rest: Uint8Array | undefined,
    handlers: LineHandlers,
  ): void | Promise<void> {
    const after = handlers.afterChunk?.();
    if (!rest) return after ? after.then(() => {}) : undefined;
    if (after) return after.then(() => this.#extend(line, rest));
    this.#extend(line, rest);
  }

  /** Delivers a last line that had no newline. */
  async #end(line: PartialLine, handlers: LineHandlers): Promise<void> {
    if (line.bytes === 0) return;
    const gate = this.#finishLine(line, handlers);
    if (gate) await gate;
  }

  /** Adds bytes to the line being read, refusing it once it passes the line cap. */
  #extend(line: PartialLine, part: Uint8Array): void {
    line.add(part);
    if (line.bytes > this.#maxLineBytes) throw this.#overflow(line.bytes);
  }

  /** Delivers the lines that end in `chunk` (up to its newline at `last`). */
  #deliverChunk(
    line: PartialLine,
    chunk: Uint8Array,
    last: number,
    handlers: LineHandlers,
  ): void | Promise<void> {
    if (!this.#scan) {
      // Every complete line in this chunk is decoded at once (1.7x faster
      // than a decode per line); a line feed never occurs inside a UTF-8
      // sequence, so splitting the text is safe.
      let region = chunk.subarray(0, last);
      if (line.bytes > 0) region = concatBytes([line.take(), region]);
      return this.#deliverAll(this.#decoder.decode(region), handlers);
    }
    if (line.bytes === 0) return this.#scanRegion(chunk, 0, last, handlers);
    // The line that began in earlier chunks ends here; the rest of the chunk is scanned in place.
    const first = chunk.indexOf(NEWLINE);
    this.#extend(line, chunk.subarray(0, first));
    const gate = this.#finishLine(line, handlers);
    if (gate) return gate.then(() => this.#scanRegion(chunk, first + 1, last, handlers));
    return this.#scanRegion(chunk, first + 1, last, handlers);
  }

  /** Hands on the line held in `line` (complete now) and empties it. */
  #finishLine(line: PartialLine, handlers: LineHandlers): void | Promise<void> {
    const stream = line.stream;
    const began = stream && performance.now();
    const spent = line.spentMs;
    const bytes = line.take(); // empty once it streamed: the offload has it all
    if (stream) {
      const cost = spent + performance.now() - began!;
      return stream.finish().then((done) =>
        this.#afterScan(done.bytes, done.scan, handlers, undefined, cost + (done.ms ?? 0))
      );
    }
    if (this.#scan) return this.#scanLine(bytes, handlers);
    return this.#deliverAll(this.#decoder.decode(bytes), handlers);
  }

  #overflow(bytes: number): RangeError {
    return new RangeError(
      `Line of more than ${this.#maxLineBytes} bytes (${bytes} so far, no newline)`,
    );
  }

  /** Scans each line of `bytes[start, end)`; returns a promise if a line asked to pause. */
  #scanRegion(
    bytes: Uint8Array,
    start: number,
    end: number,
    handlers: LineHandlers,
    text?: RegionText,
  ): void | Promise<void> {
    const tiny = 2 * this.#scan!.limits.maxDepth;
    while (start <= end) {
      text ??= this.#shortLinesText(bytes, start, end);
      if (start === text.stop) {
        // A long line, scanned from its bytes: its text is never read.
        let stop = bytes.indexOf(NEWLINE, start);
        if (stop === -1 || stop > end) stop = end;
        const gate = this.#scanLine(bytes.subarray(start, stop), handlers);
        start = stop + 1;
        if (gate) return gate.then(() => this.#scanRegion(bytes, start, end, handlers));
        text = undefined;
        continue;
      }
      let textStop = text.value.indexOf("\n", text.at);
      if (textStop === -1) textStop = text.value.length;
      const length = textStop - text.at;
      let stop: number;
      let gate: void | Promise<void>;
      if (text.ascii && length <= tiny) {
        // The common case, kept as cheap as the plugin's mode: bytes and characters agree,
        // and a line this short cannot break a structure cap.
        stop = start + length;
        gate = this.#deliver(text.value.slice(text.at, textStop), handlers);
      } else {
        stop = bytes.indexOf(NEWLINE, start);
        if (stop === -1 || stop > end) stop = end;
        gate = this.#scanLine(
          bytes.subarray(start, stop),
          handlers,
          text.value.slice(text.at, textStop),
        );
      }
      text.at = textStop + 1;
      start = stop + 1;
      if (gate) return gate.then(() => this.#scanRegion(bytes, start, end, handlers, text));
    }
  }

  /**
   * The text of the lines from `start` on up to the first longer than
   * `textMaxBytes`, decoded at once (a decode per line costs 1.7 times as
   * much). A long line's text is never read, and was decoded for nothing
   * (review 116: 8 KiB lines of invalid UTF-8, weighed as scanned, cost
   * nine times their scan to decode).
   */
  #shortLinesText(bytes: Uint8Array, start: number, end: number): RegionText {
    const max = this.#scan!.textMaxBytes;
    let stop = end + 1; // a region this short holds no long line
    if (end - start > max) {
      for (stop = start; stop <= end;) {
        let next = bytes.indexOf(NEWLINE, stop);
        if (next === -1 || next > end) next = end;
        if (next - stop > max) break;
        stop = next + 1;
      }
    }
    if (stop === start) return { value: "", at: 0, ascii: true, stop };
    const value = this.#decoder.decode(bytes.subarray(start, stop - 1));
    return { value, at: 0, ascii: value.length === stop - 1 - start, stop };
  }

  /** Scans one line (inline, or by `offload` when long: a chunk larger than a pipe's) and hands it on. */
  #scanLine(raw: Uint8Array, handlers: LineHandlers, text?: string): void | Promise<void> {
    const scan = this.#scan!;
    const cr = raw.length > 0 && raw[raw.length - 1] === 0x0d;
    const bytes = cr ? raw.subarray(0, -1) : raw;
    if (bytes.length > this.#maxLineBytes) throw this.#overflow(bytes.length);
    if (bytes.length > scan.inlineMaxBytes && scan.offload) {
      const began = performance.now();
      const stream = scan.offload();
      stream.append(bytes.slice());
      const cost = performance.now() - began;
      return stream.finish().then((done) =>
        this.#afterScan(done.bytes, done.scan, handlers, undefined, cost + (done.ms ?? 0))
      );
    }
    if (cr && text !== undefined) text = text.slice(0, -1);
    // A line this short cannot pass the depth cap (two bytes a level) or the members cap:
    // it is parsed at once, as in the plugin's mode, without a scan first.
    if (bytes.length <= 2 * scan.limits.maxDepth) {
      return this.#deliver(text ?? this.#decoder.decode(bytes), handlers);
    }
    // Timed (a request's share pays for it): every line scanned is over 128 bytes.
    const began = performance.now();
    const found = scanJson(bytes, scan.limits);
    return this.#afterScan(bytes, found, handlers, text, performance.now() - began);
  }

  /** Hands on a scanned line; `costMs`, what reading and scanning it took where that was timed. */
  #afterScan(
    bytes: Uint8Array,
    scan: JsonScan,
    handlers: LineHandlers,
    text?: string,
    costMs = 0,
  ): void | Promise<void> {
    if (scan.verdict === "blank") return void handlers.onBlank?.(bytes.length);
    if (scan.verdict === "not-json") {
      const shown = decoder.decode(bytes.subarray(0, 256));
      handlers.onStray(bytes.length > 256 ? `${shown}…` : shown, bytes.length);
      return;
    }
    if (text === undefined && bytes.length <= this.#scan!.textMaxBytes) {
      text = this.#decoder.decode(bytes);
    }
    return handlers.onScanned?.(bytes, scan, text, costMs);
  }

  /** Delivers each line of `text`; returns a promise if a handler asked to pause. */
  #deliverAll(text: string, handlers: LineHandlers): void | Promise<void> {
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf("\n", start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      // Characters never outnumber bytes, and a character is at most 3 bytes.
      if (
        line.length > this.#maxLineBytes ||
        (line.length * 3 > this.#maxLineBytes && utf8Length(line) > this.#maxLineBytes)
      ) {
        throw this.#overflow(utf8Length(line));
      }
      const gate = this.#deliver(line, handlers);
      if (gate) return gate.then(() => this.#deliverAll(text.slice(start), handlers));
    }
  }

  #deliver(raw: string, handlers: LineHandlers): void | Promise<void> {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw; // tolerate CRLF
    if (line === "") return void handlers.onBlank?.(0);
    if (line.charCodeAt(0) !== 0x7b) {
      // Judged without JSON.parse where it would throw: an exception costs microseconds, and
      // lines of spaces, dropped after one, made a flood that cost no fault (review 57).
      let at = 0;
      while (at < line.length && isJsonSpace(line.charCodeAt(at))) at++;
      if (at === line.length) return void handlers.onBlank?.(line.length); // ASCII: bytes
      if (!beginsJson(line.charCodeAt(at))) return void handlers.onStray(line, line.length);
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return void handlers.onStray(line, line.length);
    }
    return handlers.onMessage?.(value, line);
  }

  /**
   * Queues one JSON value as a line. Throws synchronously when the value
   * cannot be serialised or its line would exceed {@linkcode maxLineBytes}
   * (or `cap`, a tighter one for this message); after a failed write, an
   * overflow or {@linkcode close}, lines are dropped. An `answer` that
   * would pass the queue cap waits beside the queue (`LineWriter.send`).
   * Returns the line's length in characters.
   */
  send(message: unknown, cap?: LineCap, answer = false): number {
    return this.#writer.send(message, cap, answer);
  }

  /**
   * Resolves once every line queued so far is written (`true`), or the
   * stream broke (`false`). Never rejects.
   */
  flushed(): Promise<boolean> {
    return this.#writer.flushed();
  }

  /** Flushes queued lines, then closes the writable side (the peer sees EOF). */
  close(): Promise<void> {
    return this.#writer.close();
  }

  /** Drops what is queued and closes the writable side at once, without waiting for the reader. */
  abortWrite(): void {
    this.#writer.abort();
  }

  /** Stops reading now; {@linkcode run} then resolves. A byte source is read to its end. */
  async cancelRead(): Promise<void> {
    await this.#reader?.cancel().catch(() => {});
  }
}
