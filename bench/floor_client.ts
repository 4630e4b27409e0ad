/**
 * The floor's host side, framed as tightly as framework-free Deno code can:
 * spawn the floor plugin with plugbox's Deno flags; calls made in one tick
 * go out in one coalesced write; answers are split on newline bytes (a
 * partial line is a list of chunks, joined once), each chunk decoded once,
 * parsed and matched by id. No validation, no handshake, no deadlines.
 * @module
 */

const FLOOR_PLUGIN = new URL("./floor_plugin.ts", import.meta.url).pathname;

/** Deno flags plugbox passes too (minus the SDK's import map and preload). */
export const FLOOR_FLAGS = [
  "run",
  "--no-config",
  "--no-lock",
  "--no-remote",
  "--no-npm",
  "--no-prompt",
  "--v8-flags=--max-old-space-size=512",
];

/** A running floor plugin. */
export class FloorClient {
  readonly child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, (value: unknown) => void>();
  #nextId = 1;
  #reading: Promise<void>;
  #encoder = new TextEncoder();
  #queued = "";
  #flush = () => {
    const text = this.#queued;
    this.#queued = "";
    this.#writer.write(this.#encoder.encode(text)).catch(() => {});
  };

  constructor(denoDir: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...FLOOR_FLAGS, FLOOR_PLUGIN],
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    const parts: Uint8Array[] = [];
    let partBytes = 0;
    for await (const chunk of this.child.stdout) {
      const last = chunk.lastIndexOf(10);
      if (last === -1) {
        parts.push(chunk);
        partBytes += chunk.length;
        continue;
      }
      let head = chunk.subarray(0, last + 1);
      if (parts.length > 0) {
        const all = new Uint8Array(partBytes + head.length);
        let at = 0;
        for (const part of parts) {
          all.set(part, at);
          at += part.length;
        }
        all.set(head, at);
        head = all;
        parts.length = 0;
        partBytes = 0;
      }
      if (last + 1 < chunk.length) {
        parts.push(chunk.subarray(last + 1));
        partBytes = chunk.length - last - 1;
      }
      const text = decoder.decode(head);
      let from = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", from)) {
        const response = JSON.parse(text.slice(from, nl));
        from = nl + 1;
        const resolve = this.#pending.get(response.id);
        this.#pending.delete(response.id);
        resolve?.(response.result);
      }
    }
  }

  /** One call: `greeter.sayHello(name)`. */
  sayHello(name: string): Promise<unknown> {
    const id = this.#nextId++;
    const answer = new Promise((resolve) => this.#pending.set(id, resolve));
    if (this.#queued === "") queueMicrotask(this.#flush);
    this.#queued +=
      JSON.stringify({ jsonrpc: "2.0", id, method: "greeter.sayHello", params: [name] }) + "\n";
    return answer;
  }

  /** Close stdin and wait for the exit. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.child.status;
    await this.#reading;
  }
}
