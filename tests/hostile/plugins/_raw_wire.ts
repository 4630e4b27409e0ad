/**
 * The raw review plugins' wire (r73_raw.ts, r75_raw.ts: no SDK): their
 * writes to the host, in order, and their reading of its lines, those up to
 * 1 KiB parsed, longer ones (a document's answer) counted unread.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let writing = Promise.resolve();

/** Writes `bytes` whole, after what was written before. */
export function write(bytes: Uint8Array): Promise<void> {
  writing = writing.then(async () => {
    for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
  });
  return writing;
}

/** Writes one message as a line. */
export const line = (message: unknown): Promise<void> =>
  write(encoder.encode(JSON.stringify(message) + "\n"));

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.split("=")[1];

/**
 * Answers the host's handshake as a plugin serving R73's `attempt`, if `message` is it: true then.
 */
export function handshake(message: { method?: unknown; id?: unknown }): boolean {
  if (message.method !== "$/initialize") return false;
  const served = [{ name: "r73", version: 1, methods: ["attempt"] }];
  void line({
    jsonrpc: "2.0",
    id: message.id,
    result: { protocolVersion: 1, nonce, contracts: served },
  });
  return true;
}

/** What a raw plugin heard from the host: answers, errors, and among those cancels and refusals. */
export interface Heard {
  answers: number;
  errors: number;
  overloaded: number;
  cancelled: number;
}

/**
 * Takes one short message from the host: the handshake; `attempt`, to `onAttempt` with its mode;
 * any other request of the host's, answered `{}`; an answer to the plugin's calls, counted.
 */
export function takeMessage(
  // deno-lint-ignore no-explicit-any
  message: any,
  heard: Heard,
  onAttempt: (id: unknown, mode: string) => void,
): void {
  if (handshake(message)) return;
  if (message.method === "r73.attempt") {
    onAttempt(message.id, String(message.params?.[0] ?? ""));
  } else if (message.method !== undefined && message.id !== undefined) {
    void line({ jsonrpc: "2.0", id: message.id, result: {} });
  } else if (message.error) {
    heard.errors++;
    if (message.error.code === -32800) heard.cancelled++;
    if (message.error.code === -32004) heard.overloaded++;
  } else if ("result" in message) heard.answers++;
}

export const sleep = (ms: number): Promise<unknown> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads stdin to its end: each line up to 1 KiB to `onLine`, decoded; each
 * longer one to `onLong`, unread; `afterChunk` after each chunk's lines, with
 * the chunk's size.
 */
export async function readLines(
  onLine: (text: string) => void,
  onLong: () => void,
  afterChunk: (bytes: number) => void | Promise<void>,
): Promise<void> {
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  for await (const chunk of Deno.stdin.readable) {
    let start = 0;
    while (start < chunk.length) {
      const stop = chunk.indexOf(10, start);
      const end = stop === -1 ? chunk.length : stop;
      if (heldBytes + end - start <= 1024) held.push(chunk.slice(start, end));
      heldBytes += end - start;
      if (stop === -1) break;
      if (heldBytes <= 1024) {
        const all = new Uint8Array(heldBytes);
        let o = 0;
        for (const part of held) all.set(part, (o += part.length) - part.length);
        if (heldBytes > 0) onLine(decoder.decode(all));
      } else onLong();
      held = [];
      heldBytes = 0;
      start = stop + 1;
    }
    await afterChunk(chunk.length);
  }
}
