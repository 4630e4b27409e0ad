/**
 * A plugin's stderr: split into bounded lines, neutralised, kept in a ring
 * of the last N bytes for error messages. A flood costs CPU, never memory.
 * @module
 */

import { pathToFileURL } from "node:url";
import { neutralize } from "../wire/mod.ts";
import {
  chargeHost,
  hostAllows,
  hostReadAllows,
  hostSecondEnds,
  hostSecondOver,
  joinHostBudget,
  secondOver,
  STDERR_HOST_MS_PER_SECOND,
} from "./stderr_budget.ts";

export { STDERR_HOST_MS_PER_SECOND } from "./stderr_budget.ts";

/** Longest stderr line kept, in bytes; the rest of a longer line is dropped. */
export const MAX_STDERR_LINE = 8192;

/**
 * The last lines written, up to a byte budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StderrRing } from "./stderr.ts";
 * const ring = new StderrRing(10);
 * ring.push("first line");
 * ring.push("second");
 * assert.ok(ring.tail() === "second");
 * ```
 */
export class StderrRing {
  #lines: string[] = [];
  #head = 0;
  #size = 0;
  #budget: number;

  constructor(budgetBytes = 64 * 1024) {
    this.#budget = budgetBytes;
  }

  /** Adds a line, dropping the oldest ones beyond the budget. */
  push(line: string): void {
    this.#lines.push(line);
    this.#size += line.length + 1;
    while (this.#size > this.#budget && this.#head < this.#lines.length - 1) {
      this.#size -= this.#lines[this.#head++].length + 1;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The most recent lines, at most `maxLines` and about `maxChars` characters. */
  tail(maxLines = 20, maxChars = 4096): string {
    const out: string[] = [];
    let chars = 0;
    for (let i = this.#lines.length - 1; i >= this.#head && out.length < maxLines; i--) {
      chars += this.#lines[i].length + 1;
      if (chars > maxChars && out.length > 0) break;
      out.push(this.#lines[i]);
    }
    return out.reverse().join("\n");
  }
}

/** Options for {@linkcode readStderr}. */
export interface ReadStderrOptions {
  /** Aborting stops reading (the stream is cancelled). */
  signal?: AbortSignal;
  /**
   * Lines handed on per second; beyond it whole chunks are dropped unread
   * (and counted) until the next second, so a flood costs the host a read
   * per chunk, not work per line (with `ended`, not even the read).
   * @default {2000}
   */
  maxLinesPerSecond?: number;
  /**
   * Settles when the writer has ended (the process exited). Until then,
   * past the rate reading waits for the next second: the pipe fills and the
   * writer waits, and what it writes meanwhile costs the host nothing (read
   * only to be dropped, a flood held 60% of the host's thread, 3 times the
   * writer's CPU: review 95). It waits as well past `maxLinesPerSecond`
   * reads, or as many lines' bytes (8 KiB each), in a second, whatever the
   * lines: a line that never ends costs reads, not lines (review 98). After
   * it, the rest is read at once, and what is past the rate dropped. Without
   * it, reading never waits.
   */
  ended?: Promise<unknown>;
  /**
   * This thread's time its lines may take a second (their decode, their
   * neutralising, `onLine`), in ms; beyond it, dropped as past
   * `maxLinesPerSecond`. A line's cost is not its bytes': 8 KiB of control
   * characters, each escaped, took 0.7 ms, 50 times a plain line's (review 95).
   * @default {{@linkcode STDERR_MS_PER_SECOND}}
   */
  maxMsPerSecond?: number;
}

/** The most of the host's thread one plugin's stderr lines take a second, in ms. */
export const STDERR_MS_PER_SECOND = 100;

/**
 * How plugbox's own notes among a plugin's stderr lines begin. A plugin's
 * line that begins so gets a `\` first: it cannot pass for one.
 */
export const OWN_NOTE = "(plugbox: ";

/**
 * Neutralised text cut to {@linkcode MAX_STDERR_LINE} characters, never inside an escape: a
 * control byte is four characters escaped, so 8 KiB of them were 32 KiB in `onLog` and in the
 * stderr tail, whose first line is shown whole (review 85).
 */
function withinLine(text: string): string {
  if (text.length <= MAX_STDERR_LINE) return text;
  const slash = text.lastIndexOf("\\", MAX_STDERR_LINE);
  const end = slash > MAX_STDERR_LINE - 10 ? slash : MAX_STDERR_LINE; // `\u{10ffff}` is 10
  return `${text.slice(0, end)}… (${text.length - end} more characters escaped)`;
}

/**
 * Reads a stderr stream to its end (or until `signal` aborts), calling
 * `onLine` with each line, neutralised and cut at {@linkcode MAX_STDERR_LINE}
 * bytes, at most `maxLinesPerSecond` a second; a note says how much was
 * dropped beyond that (`fromPlugbox` true: see {@linkcode OWN_NOTE}).
 */
export async function readStderr(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string, fromPlugbox: boolean) => void,
  options: ReadStderrOptions = {},
): Promise<void> {
  const { signal } = options;
  const perSecond = options.maxLinesPerSecond ?? 2000;
  const msPerSecond = options.maxMsPerSecond ?? STDERR_MS_PER_SECOND;
  const decoder = new TextDecoder();
  // One line's bytes, copied in as they arrive: a line dripped a byte per read costs its bytes,
  // not a 64 KiB read buffer or an object per byte (reviews 32 and 33).
  const held = new Uint8Array(MAX_STDERR_LINE);
  let size = 0;
  let dropped = 0;
  let window = Date.now();
  let lines = 0;
  let spentMs = 0; // this second's time on lines
  // What the drop began at: the line count, this plugin's time, or every plugin's time together.
  let overBy: "lines" | "time" | "host" = "lines";
  let skipped = 0; // bytes dropped over the rate, not yet reported
  let midLine = false; // whether they end inside a line
  let toLineEnd = false; // the drop is over but for the rest of the line it began in
  let reads = 0; // this second's reads, and their bytes: what reading costs, whatever the lines
  let readBytes = 0;
  const maxReadBytes = perSecond * MAX_STDERR_LINE;
  const flush = () => {
    if (size === 0 && dropped === 0) return;
    let text = withinLine(neutralize(
      decoder.decode(held.subarray(0, size)).replace(/\r$/, ""),
      MAX_STDERR_LINE,
    ));
    if (dropped > 0) text += ` … (${dropped} more bytes on this line)`;
    if (text.startsWith(OWN_NOTE)) text = `\\${text}`; // review 37: it forged plugbox's note
    size = 0;
    dropped = 0;
    onLine(text, false);
  };
  const take = (piece: Uint8Array) => {
    const room = MAX_STDERR_LINE - size;
    if (piece.length > room) {
      dropped += piece.length - room;
      piece = piece.subarray(0, room);
    }
    if (piece.length > 0) {
      held.set(piece, size);
      size += piece.length;
    }
  };
  const report = () => {
    if (skipped === 0) return;
    // Dropped for the host's budget, the plugin is not the one told it went over (review 100).
    const over = overBy === "host"
      ? `met the host's limit for every plugin's stderr together (${STDERR_HOST_MS_PER_SECOND} ms of its time a second)`
      : overBy === "time"
      ? `took more than ${msPerSecond} ms of the host's time a second`
      : `went over ${perSecond} lines a second`;
    onLine(`${OWN_NOTE}stderr ${over}; ${skipped} bytes were dropped)`, true);
    skipped = 0;
  };
  /** Whether a new second began (the line budget is then renewed). */
  const renewed = () => {
    const now = Date.now();
    if (!secondOver(window, now)) return false;
    window = now;
    lines = 0;
    spentMs = 0;
    reads = 0;
    readBytes = 0;
    return true;
  };
  const eachLine = (chunk: Uint8Array) => {
    let start = 0;
    if (skipped > 0) {
      // Over the rate: whole chunks go unread until the next second (its own, or the host's if
      // the host's ceiling dropped them), and the line the drop began in is dropped to its end:
      // none if the drop ended a line (the next line whole was dropped with it, review 105).
      // A second begun in a chunk that did not end that line is the second still: the next
      // chunk's check found it begun already and waited for another.
      const again = toLineEnd || renewed() || (overBy === "host" && hostSecondOver(share));
      const nl = again && midLine ? chunk.indexOf(0x0a) : -1;
      if (!again || (midLine && nl === -1)) {
        toLineEnd = again;
        skipped += chunk.length;
        if (chunk.length > 0) midLine = chunk[chunk.length - 1] !== 0x0a;
        return;
      }
      toLineEnd = false;
      skipped += nl + 1;
      report();
      start = nl + 1;
    }
    let nl = chunk.indexOf(0x0a, start);
    while (nl !== -1) {
      const own = (lines >= perSecond || spentMs >= msPerSecond) && !renewed();
      if (own || !hostAllows(share)) {
        overBy = own ? (lines < perSecond ? "time" : "lines") : "host";
        // The line's bytes read before are dropped too, and counted (review 106).
        skipped += size + dropped + chunk.length - start;
        size = 0;
        dropped = 0;
        midLine = chunk[chunk.length - 1] !== 0x0a;
        return;
      }
      lines++;
      const began = performance.now();
      take(chunk.subarray(start, nl));
      flush();
      const spent = performance.now() - began;
      spentMs += spent;
      chargeHost(share, spent);
      start = nl + 1;
      nl = chunk.indexOf(0x0a, start);
    }
    take(chunk.subarray(start));
  };
  // Past the rate, reading waits for the next second, unless the writer has ended or reading stops.
  let waiting = options.ended !== undefined;
  let wake: (() => void) | undefined;
  const stopWaiting = () => {
    waiting = false;
    wake?.();
  };
  void options.ended?.then(stopWaiting, stopWaiting);
  const nextSecond = (hostReads: boolean) =>
    new Promise<void>((resolve) => {
      // Dropped at the host's ceiling, or past the host's reads, until the host's next second if
      // it comes first (review 105). That second is renewed at each read (hostReadAllows): the
      // rest of a dropped line, read with no line to renew it, waited for a second long over,
      // 0 ms at every read (review 106).
      const atHost = hostReads || (skipped > 0 && overBy === "host");
      const host = atHost ? hostSecondEnds() : Infinity;
      // Past the host's reads, not the plugin's own second's end: one long over (no read past its
      // own rate renewed it) waited 0 ms at every read, and 32 plugins read as if unbounded (review
      // 112).
      const own = hostReads ? Infinity : window + 1000;
      // Never more than a second: a clock set back made it the whole step back (review 101).
      const timer = setTimeout(
        () => wake?.(),
        Math.min(1000, Math.max(0, Math.min(own, host) - Date.now())),
      );
      wake = () => {
        wake = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  const reader = stream.getReader();
  const share = joinHostBudget();
  const cancel = () => {
    stopWaiting();
    reader.cancel().catch(() => {});
  };
  if (signal?.aborted) cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    while (true) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      eachLine(chunk);
      reads++;
      readBytes += chunk.length;
      // A line's budget is charged where it ends: the reads of a line that never ends, or of
      // lines of a megabyte, were charged nothing, and held the host's thread at 78%, 5 times the
      // writer's CPU (review 98). Past the line rate in reads, or in bytes, reading waits too.
      const overReads = reads > perSecond || readBytes > maxReadBytes;
      // Every plugin's reads together, too: each plugin's rate alone let 16 hold 49% (review 107);
      // by their bytes, as a full pipe's read costs more (review 112: 32 plugins held 41%).
      const hostReads = !hostReadAllows(share, chunk.length);
      // Not for the rest of the line a drop began in once the drop is over (review 105).
      const over = skipped > 0 && !toLineEnd;
      if (waiting && (over || hostReads || (overReads && !renewed()))) {
        await nextSecond(hostReads);
      }
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
  if (skipped > 0) report();
  else flush();
}

/**
 * Shows the plugin's own folder where its stderr names the snapshot it runs
 * from (stack traces, Deno's errors), so a person reads their own paths, the
 * folder's name neutralised as the line is. The result is cut to
 * {@linkcode MAX_STDERR_LINE} again.
 */
export function userPaths(snapshotDir: string, root: string): (line: string) => string {
  // The folder's name is its author's words, as untrusted as the line (review 85: a name with
  // ESC, a newline or U+202E reached onLog and the stderr tail raw). A URL is escaped already.
  const pairs: [string, string][] = [
    [pathToFileURL(snapshotDir).href, pathToFileURL(root).href],
    [snapshotDir, neutralize(root)],
  ];
  return (line) => {
    if (!line.includes(snapshotDir)) return line;
    let out = line;
    for (const [from, to] of pairs) out = out.replaceAll(from, to);
    return out.length > MAX_STDERR_LINE ? `${out.slice(0, MAX_STDERR_LINE)} …` : out;
  };
}
