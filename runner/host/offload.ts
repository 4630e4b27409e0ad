/**
 * Scans long lines in a Worker of their own plugin: one plugin's 16 MiB
 * line costs its own thread, not the host's event loop that every other
 * plugin's calls share. The Worker is made on the first long line only (most
 * plugins never send one) and ends with its plugin.
 * @module
 */

import type { JsonScan, LineOffload, StructureLimits } from "../wire/mod.ts";

interface Waiting {
  resolve(done: { bytes: Uint8Array; scan: JsonScan; ms: number }): void;
  reject(reason: unknown): void;
}

const WORKER = new URL("./scan_worker.ts", import.meta.url).href;

/**
 * A plugin's scanning Worker.
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
  #worker: Worker | undefined;
  #waiting = new Map<number, Waiting>();
  #seq = 0;
  #closed = false;

  constructor(limits: StructureLimits) {
    this.#limits = limits;
  }

  /** Whether the Worker has been made (for tests). */
  get started(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Starts one line: its parts go to the Worker as they are appended (each
   * part's buffer is transferred), and `finish` resolves with the joined
   * bytes (transferred back) and their scan.
   */
  start(): LineOffload {
    const seq = ++this.#seq;
    const post = (message: unknown, transfer: Transferable[] = []) => {
      if (this.#closed) return false;
      (this.#worker ??= this.#spawn()).postMessage(message, transfer);
      return true;
    };
    return {
      append: (part) => void post({ seq, part }, [part.buffer as ArrayBuffer]),
      finish: () =>
        new Promise((resolve, reject) => {
          if (!post({ seq, limits: this.#limits })) {
            return reject(new Error("The scanning worker was closed"));
          }
          this.#waiting.set(seq, { resolve, reject });
        }),
    };
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER, { type: "module", name: "plugbox line scanner" });
    worker.onmessage = (
      { data }: MessageEvent<{ seq: number; bytes: Uint8Array; scan: JsonScan; ms: number }>,
    ) => {
      const waiting = this.#waiting.get(data.seq);
      this.#waiting.delete(data.seq);
      waiting?.resolve(data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`The scanning worker failed: ${event.message}`));
    };
    return worker;
  }

  #fail(reason: unknown): void {
    for (const waiting of this.#waiting.values()) waiting.reject(reason);
    this.#waiting.clear();
  }

  /** Ends the Worker; scans still waiting reject. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker?.terminate();
    this.#fail(new Error("The scanning worker was closed"));
  }
}
