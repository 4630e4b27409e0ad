/**
 * The floor's host side: spawn the floor plugin with plugbox's Deno flags,
 * then JSON.stringify, write, split on newline, JSON.parse, match ids.
 * Nothing else: no validation, no handshake, no deadlines.
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
    let buffered = "";
    for await (const chunk of this.child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf("\n");
      while (nl !== -1) {
        const response = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        const resolve = this.#pending.get(response.id);
        this.#pending.delete(response.id);
        resolve?.(response.result);
        nl = buffered.indexOf("\n");
      }
    }
  }

  /** One call: `greeter.sayHello(name)`. */
  sayHello(name: string): Promise<unknown> {
    const id = this.#nextId++;
    const line =
      JSON.stringify({ jsonrpc: "2.0", id, method: "greeter.sayHello", params: [name] }) + "\n";
    const answer = new Promise((resolve) => this.#pending.set(id, resolve));
    this.#writer.write(this.#encoder.encode(line));
    return answer;
  }

  /** Close stdin and wait for the exit. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.child.status;
    await this.#reading;
  }
}
