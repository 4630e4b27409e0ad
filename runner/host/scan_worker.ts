/**
 * A Worker that scans plugins' long lines off the host's main thread:
 * it receives each line's bytes in parts as they arrive (transferred, not
 * copied), joins them, checks them with `scanJson`, and transfers them back
 * with the scan and the time that took. Nothing is decoded or parsed here;
 * the main thread parses only what it needs.
 * @module
 */

import { concatBytes, scanJson, type StructureLimits } from "../wire/mod.ts";

/**
 * One part of a line, or (with `limits`) the end of it, or (`drop`) its
 * plugin's end, as {@linkcode ScanOffload} posts them: every plugin of the
 * host shares this Worker, each line by its own `seq`.
 */
interface ScanRequest {
  seq: number;
  part?: Uint8Array;
  limits?: StructureLimits;
  /** With `limits`: the host's other lines on this Worker, begun and not scanned back. */
  others?: number;
  drop?: boolean;
  /** Asks how many lines this Worker holds (for tests). */
  held?: boolean;
}

const scope = globalThis as unknown as {
  addEventListener(type: "message", listener: (event: MessageEvent<ScanRequest>) => void): void;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

const lines = new Map<number, Uint8Array[]>();
/**
 * Lines whole and waiting for their scan, scanned shortest first: every
 * plugin has at most one line here at a time, so a short line waits for at
 * most the scan in progress, not for every long line other plugins queued
 * before it (review 134: with 8 plugins answering 16 MiB, another's 100 KiB
 * answer waited 204 ms at the median, against 57 ms with a Worker each).
 */
const ready = new Map<number, { parts: Uint8Array[]; bytes: number; limits: StructureLimits }>();
let scheduled = false;

/** Scans the shortest line ready, after the messages that arrived meanwhile are read. */
function scanNext(): void {
  scheduled = false;
  let shortest: number | undefined;
  for (const [seq, line] of ready) {
    if (shortest === undefined || line.bytes < ready.get(shortest)!.bytes) shortest = seq;
  }
  if (shortest === undefined) return;
  const { parts, limits } = ready.get(shortest)!;
  ready.delete(shortest);
  if (ready.size > 0) schedule(true);
  const began = performance.now();
  let bytes = parts.length === 1 ? parts[0] : concatBytes(parts);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
  const scan = scanJson(bytes, limits);
  // The line's cost to this thread, told to the host: what it charges the plugin's requests.
  const ms = performance.now() - began;
  scope.postMessage({ seq: shortest, bytes, scan, ms }, [bytes.buffer as ArrayBuffer]);
}

/**
 * A line ended while others on this Worker are under way (the host counts them, `others`) waits
 * for a timer of 0 ms: a task after the messages that came meanwhile, so that their lines are
 * weighed too. A line alone is scanned at once: a stream of 64 KiB items, 4,096 lines of 256 MiB,
 * each behind a timer, took 14 s instead of 4. After a scan, the next of the lines ready goes at
 * once too, from a message to itself (a timer set from a timer's callback waits 4 ms).
 */
const turn = new MessageChannel();
turn.port1.onmessage = scanNext;

function schedule(fromScan = false): void {
  if (scheduled) return;
  scheduled = true;
  if (fromScan) turn.port2.postMessage(null);
  else setTimeout(scanNext, 0);
}

scope.addEventListener("message", ({ data: { seq, part, limits, others, drop, held } }) => {
  if (drop) return void (lines.delete(seq), ready.delete(seq));
  if (held) return scope.postMessage({ seq, held: lines.size + ready.size }, []);
  let parts = lines.get(seq);
  if (!parts) lines.set(seq, parts = []);
  if (part) parts.push(part);
  if (!limits) return;
  lines.delete(seq);
  let bytes = 0;
  for (const one of parts) bytes += one.length;
  ready.set(seq, { parts, bytes, limits });
  if (!others && !scheduled && ready.size === 1) scanNext();
  else schedule();
});
