/**
 * A plugin's stdin as the host writes it. Under the OS layer the sandbox
 * runs the plugin only after the host's go, one line on stdin
 * (`GO_STEP` in the sandbox's layers.ts), sent once the sandbox's death
 * signals are armed (exit_cause.ts). Until then what is written waits, in
 * order, and nothing may reach the pipe before the go: the sandbox's
 * `read` would take it for one.
 * @module
 */

import { GO_LINE } from "../sandbox/mod.ts";

interface Held {
  bytes: Uint8Array;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The plugin's stdin; with `waitsForGo`, writes wait for {@linkcode go}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginInput } from "./plugin_input.ts";
 * const chunks: string[] = [];
 * const sink = new WritableStream<Uint8Array>({
 *   write: (c) => void chunks.push(new TextDecoder().decode(c)),
 * });
 * const input = new PluginInput(sink.getWriter(), true);
 * const written = input.write(new TextEncoder().encode("{}\n"));
 * input.go();
 * await written;
 * assert.deepEqual(chunks, ["\n", "{}\n"]);
 * ```
 */
export class PluginInput {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** What waits for the go, in order; unset once the go was sent or refused (or never awaited). */
  #held: Held[] | undefined;
  /** A close asked for while waiting: done after the held writes. */
  #closing: { resolve(): void; reject(error: unknown): void; promise: Promise<void> } | undefined;
  /** The go will never be sent: stdin is closed, and writes fail. */
  #refused = false;

  constructor(writer: WritableStreamDefaultWriter<Uint8Array>, waitsForGo: boolean) {
    this.#writer = writer;
    if (waitsForGo) this.#held = [];
  }

  /** True while the go is awaited: the plugin has not been let run. */
  get waiting(): boolean {
    return this.#held !== undefined;
  }

  /** Writes `bytes` (after the go, when one is awaited). */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#refused) return Promise.reject(refusal());
    if (!this.#held) return this.#writer.write(bytes);
    // As a closed stream's would: nothing goes after a close.
    if (this.#closing) return Promise.reject(new TypeError("the plugin's stdin is closing"));
    return new Promise<void>((resolve, reject) => this.#held!.push({ bytes, resolve, reject }));
  }

  /** Closes stdin after what is queued (after the go, or once it will never come). */
  close(): Promise<void> {
    if (this.#refused) return Promise.resolve();
    if (!this.#held) return this.#writer.close();
    if (!this.#closing) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => [resolve, reject] = [res, rej]);
      this.#closing = { resolve, reject, promise };
    }
    return this.#closing.promise;
  }

  /**
   * Stops writing at once: a write in flight is abandoned (a plugin that
   * never reads cannot hold it), and a go not yet sent never will be.
   */
  abort(reason?: unknown): Promise<void> {
    this.#refuse();
    return this.#writer.abort(reason);
  }

  /** Sends the go, then what waited, in order, in this same turn; once. */
  go(): void {
    const held = this.#held;
    if (!held) return;
    this.#held = undefined;
    this.#writer.write(GO_LINE).catch(() => {}); // a failure shows on the writes behind it
    for (const { bytes, resolve, reject } of held) this.#writer.write(bytes).then(resolve, reject);
    const closing = this.#closing;
    this.#closing = undefined;
    if (closing) this.#writer.close().then(closing.resolve, closing.reject);
  }

  /**
   * The go will never be sent (the process exited first): what waits fails,
   * and stdin closes, so a sandbox still waiting reads its end and ends.
   * Does nothing once the go was sent.
   */
  never(): void {
    if (this.#refuse()) this.#writer.close().catch(() => {});
  }

  /** True when a go was still awaited, and now never will be. */
  #refuse(): boolean {
    const held = this.#held;
    if (!held) return false;
    this.#held = undefined;
    this.#refused = true;
    for (const { reject } of held) reject(refusal());
    this.#closing?.resolve();
    this.#closing = undefined;
    return true;
  }
}

function refusal(): Error {
  return new Error("the plugin's process exited before it was let run");
}
