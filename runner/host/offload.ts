/**
 * Scans long lines off the host's main thread, in Workers every plugin of
 * this host process shares: one plugin's 16 MiB line costs a scanning
 * thread, not the event loop that every plugin's calls share. The pool holds
 * at most {@linkcode SCAN_WORKERS} Workers, made as long lines need them (most
 * plugins never send one), and ends them once no plugin that sent one is
 * left. A Worker each, as it was, cost the host about 9 MiB and a thread per
 * plugin that ever sent a line over 64 KiB, for the plugin's life: 64 such
 * plugins held 585 MiB and 64 threads (review 132).
 * @module
 */

import type { JsonScan, LineOffload, StructureLimits } from "../wire/mod.ts";

/** Scanning Workers one host process keeps at most: its cores, at least 2. */
export const SCAN_WORKERS: number = Math.max(2, navigator.hardwareConcurrency || 1);

interface Scanned {
  bytes: Uint8Array;
  scan: JsonScan;
  ms: number;
}

interface Waiting {
  resolve(done: Scanned): void;
  reject(reason: unknown): void;
}

/** One Worker of the pool, and the lines it holds (begun, not yet scanned back). */
interface Scanner {
  worker: Worker;
  lines: number;
  waiting: Map<number, Waiting>;
  failed?: Error;
}

const WORKER = new URL("./scan_worker.ts", import.meta.url).href;
const pool: Scanner[] = [];
/** Open offloads that have sent a long line: the pool's Workers end when none is left. */
let users = 0;
let seqs = 0;

/** Scanning Workers alive in this host process (for tests). */
export function scanWorkersAlive(): number {
  return pool.length;
}

const heldAnswers = new Map<number, (held: number) => void>();

/**
 * How many lines the pool's Workers hold, begun or being scanned, whether
 * or not their plugin is still open (for tests).
 */
export async function scanLinesHeld(): Promise<number> {
  const counts = pool.map((scanner) =>
    new Promise<number>((resolve) => {
      const seq = ++seqs;
      heldAnswers.set(seq, (held) => {
        heldAnswers.delete(seq);
        resolve(held);
      });
      scanner.worker.postMessage({ seq, held: true });
    })
  );
  return (await Promise.all(counts)).reduce((sum, count) => sum + count, 0);
}

/** The Worker for a new line: an idle one, a new one while the pool has room, else the least busy. */
function pick(): Scanner {
  const idle = pool.find((scanner) => scanner.lines === 0);
  if (idle) return idle;
  if (pool.length < SCAN_WORKERS) return spawn();
  return pool.reduce((least, scanner) => scanner.lines < least.lines ? scanner : least);
}

function spawn(): Scanner {
  const worker = new Worker(WORKER, { type: "module", name: "plugbox line scanner" });
  const scanner: Scanner = { worker, lines: 0, waiting: new Map() };
  worker.onmessage = ({ data }: MessageEvent<Scanned & { seq: number; held?: number }>) => {
    if (data.held !== undefined) return heldAnswers.get(data.seq)?.(data.held);
    const waiting = scanner.waiting.get(data.seq);
    if (!waiting) return; // its plugin closed meanwhile
    scanner.waiting.delete(data.seq);
    scanner.lines--;
    waiting.resolve(data);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(scanner, new Error(`The scanning worker failed: ${event.message}`));
  };
  pool.push(scanner);
  return scanner;
}

/** A Worker that failed leaves the pool: its lines' scans reject, later lines go to another. */
function fail(scanner: Scanner, reason: Error): void {
  scanner.failed = reason;
  scanner.worker.terminate();
  const at = pool.indexOf(scanner);
  if (at !== -1) pool.splice(at, 1);
  for (const waiting of scanner.waiting.values()) waiting.reject(reason);
  scanner.waiting.clear();
}

function release(): void {
  if (--users > 0) return;
  for (const scanner of pool.splice(0)) scanner.worker.terminate();
}

/**
 * A plugin's share of the scanning Workers: its long lines, each on one of
 * the pool's Workers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScanOffload } from "./offload.ts";
 * const offload = new ScanOffload({ maxDepth: 64, maxMembers: 1000 });
 * const line = offload.start();
 * line.append(new TextEncoder().encode('{"jsonrpc":"2.0",'));
 * line.append(new TextEncoder().encode('"id":1,"result":2}'));
 * const { scan } = await line.finish();
 * assert.equal(scan.verdict, "ok");
 * offload.close();
 * ```
 */
export class ScanOffload {
  #limits: StructureLimits;
  /** This plugin's lines on the pool, begun and not yet scanned back. */
  #open = new Map<number, Scanner>();
  #started = false;
  #closed = false;

  constructor(limits: StructureLimits) {
    this.#limits = limits;
  }

  /** Whether this plugin has sent a long line (for tests). */
  get started(): boolean {
    return this.#started;
  }

  /**
   * Starts one line: its parts go to a Worker as they are appended (each
   * part's buffer is transferred), and `finish` resolves with the joined
   * bytes (transferred back) and their scan.
   */
  start(): LineOffload {
    const seq = ++seqs;
    let scanner: Scanner | undefined;
    /** This line's Worker, taken at its first message; none once the plugin closed. */
    const to = () => this.#closed ? undefined : (scanner ??= this.#take(seq));
    return {
      append: (part) => {
        const worker = to();
        if (worker && !worker.failed) {
          worker.worker.postMessage({ seq, part }, [part.buffer as ArrayBuffer]);
        }
      },
      finish: () =>
        new Promise<Scanned>((resolve, reject) => {
          const worker = to();
          if (!worker) return reject(new Error("The scanning worker was closed"));
          if (worker.failed) return reject(worker.failed);
          // The others under way on its Worker: with none, the Worker scans this one at once.
          worker.worker.postMessage({ seq, limits: this.#limits, others: worker.lines - 1 });
          worker.waiting.set(seq, { resolve, reject });
        }).finally(() => this.#open.delete(seq)),
    };
  }

  /** A Worker of the pool for line `seq`, this plugin counted among the pool's users at its first. */
  #take(seq: number): Scanner {
    if (!this.#started) users++;
    this.#started = true;
    const scanner = pick();
    scanner.lines++;
    this.#open.set(seq, scanner);
    return scanner;
  }

  /** Drops this plugin's lines from the pool (their scans reject) and lets it go. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new Error("The scanning worker was closed");
    for (const [seq, scanner] of this.#open) {
      const waiting = scanner.waiting.get(seq);
      scanner.waiting.delete(seq);
      scanner.lines--;
      if (!scanner.failed) scanner.worker.postMessage({ seq, drop: true });
      waiting?.reject(reason);
    }
    this.#open.clear();
    if (this.#started) release();
  }
}
