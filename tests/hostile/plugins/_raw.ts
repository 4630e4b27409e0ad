/**
 * The protocol by hand, for attacking plugins that must write what the SDK
 * never would: the handshake, then every line the host sends, raw. Writes
 * block, as the SDK's do, so a host that stops reading stops the plugin.
 * @module
 */

const encoder = new TextEncoder();
const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

/** Writes `text` and a newline to stdout, all of it. */
export function writeLine(text: string | Uint8Array): void {
  const bytes = typeof text === "string" ? encoder.encode(text + "\n") : text;
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
  if (typeof text !== "string") Deno.stdout.writeSync(encoder.encode("\n"));
}

/** Answers request `id` with `result`. */
export function answer(id: unknown, result: unknown): void {
  writeLine(JSON.stringify({ jsonrpc: "2.0", id, result }));
}

/** One message from the host. */
export interface HostMessage {
  id?: number;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: { code: number; message: string };
}

/** Every line the host sends, parsed, with its length in characters. */
export async function* fromHost(): AsyncGenerator<HostMessage & { length: number }> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) yield { ...JSON.parse(line), length: line.length };
    }
  }
}

/**
 * Answers the handshake (serving `probe.attempt`), then hands each call of
 * `probe.attempt` to `attack` with its mode and id. `attack` may read more
 * host messages from `messages` itself, or stop reading for good.
 */
export async function serveProbe(
  attack: (mode: string, id: number, messages: AsyncGenerator<HostMessage>) => Promise<void>,
): Promise<void> {
  const messages = fromHost();
  for await (const message of messages) {
    if (message.method === "$/initialize") {
      const served = [{ name: "probe", version: 1, methods: ["attempt"] }];
      answer(message.id, { protocolVersion: 1, nonce, contracts: served });
    } else if (message.method === "probe.attempt") {
      await attack(String(message.params?.[0] ?? ""), message.id!, messages);
    } else if (message.id !== undefined && message.method) {
      answer(message.id, {});
    }
  }
}

/** Answers the handshake as a plugin serving `contract`'s `methods`. */
export function answerHandshake(id: unknown, contract: string, methods: string[]): void {
  answer(id, { protocolVersion: 1, nonce, contracts: [{ name: contract, version: 1, methods }] });
}

/**
 * A stream sent as the host grants credit: `pour(n)` writes the next `n` items, and once `count`
 * are out the call `id` is answered (null).
 */
export class CreditedStream {
  #credit = 0;
  #left: number;
  #pour: (n: number) => void;

  constructor(readonly id: number, count: number, pour: (n: number) => void) {
    this.#left = count;
    this.#pour = pour;
  }

  /** Whether every item is out (and the call answered). */
  get done(): boolean {
    return this.#left === 0;
  }

  /** Takes a `$/credit` message's params: if it is this stream's, sends what it allows. */
  credit(params: unknown): void {
    const granted = params as { id: number; items: number };
    if (granted.id !== this.id || this.done) return;
    this.#credit += granted.items;
    const count = Math.min(this.#credit, this.#left);
    if (count > 0) this.#pour(count);
    this.#credit -= count;
    this.#left -= count;
    if (this.done) answer(this.id, null);
  }
}
