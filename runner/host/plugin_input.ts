/**
 * A plugin's stdin as the host writes it. Under the OS layer the sandbox
 * runs the plugin only after the host's go, one line on stdin
 * (`GO_STEP` in the sandbox's layers.ts), sent once the sandbox's death
 * signals are armed (exit_cause.ts). Until then what is written waits, and
 * nothing may reach the pipe before the go: the sandbox's `read` would take
 * it for one.
 * @module
 */

import { GO_LINE } from "../sandbox/mod.ts";

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
  /** Settles true once the go is written, false if it never will be; unset when not waiting. */
  #gate: Promise<boolean> | undefined;
  #settle: (sent: boolean) => void = () => {};
  /** The go will never be sent: stdin is closed, and writes fail. */
  #refused = false;

  constructor(writer: WritableStreamDefaultWriter<Uint8Array>, waitsForGo: boolean) {
    this.#writer = writer;
    if (waitsForGo) this.#gate = new Promise<boolean>((resolve) => this.#settle = resolve);
  }

  /** Writes `bytes` (after the go, when one is awaited). */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#refused) return Promise.reject(refusal());
    if (!this.#gate) return this.#writer.write(bytes);
    return this.#gate.then((sent) => {
      if (!sent) throw refusal();
      return this.#writer.write(bytes);
    });
  }

  /** Closes stdin after what is queued (after the go, or once it will never come). */
  close(): Promise<void> {
    if (this.#refused) return Promise.resolve();
    if (!this.#gate) return this.#writer.close();
    return this.#gate.then((sent) => sent ? this.#writer.close() : undefined);
  }

  /**
   * Stops writing at once: a write in flight is abandoned (a plugin that
   * never reads cannot hold it), and a go not yet sent never will be.
   */
  abort(reason?: unknown): Promise<void> {
    this.#refuse();
    return this.#writer.abort(reason);
  }

  /** Sends the go, ahead of everything written so far; once. */
  go(): void {
    if (!this.#gate) return;
    this.#writer.write(GO_LINE).catch(() => {}); // a failure shows on the next write
    this.#gate = undefined;
    this.#settle(true);
  }

  /**
   * The go will never be sent (the process exited, or the sandbox was seen
   * broken): what waits fails, and stdin closes, so a sandbox still waiting
   * reads its end and ends. Does nothing once the go was sent.
   */
  never(): void {
    if (this.#refuse()) this.#writer.close().catch(() => {});
  }

  /** True when a go was still awaited, and now never will be. */
  #refuse(): boolean {
    if (!this.#gate) return false;
    this.#gate = undefined;
    this.#refused = true;
    this.#settle(false);
    return true;
  }
}

function refusal(): Error {
  return new Error("the plugin's process exited before it was let run");
}
