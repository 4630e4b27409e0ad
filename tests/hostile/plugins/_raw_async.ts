/**
 * The protocol by hand for the review plugins (r65_raw.ts, r66_raw.ts):
 * the handshake, then `attempt(mode)` runs one of the plugin's modes and
 * answers with what it said. Unlike `_raw.ts`, writes are async, so what
 * the host sends is read meanwhile (its answers never back up), and
 * counted by kind; with `state.discard` set it is dropped unparsed.
 * @module
 */

/** A mode: its arguments as the mode string gave them (`kind:a:b:c`). */
export type Mode = (a: string, b: string, c: string) => Promise<string>;

export const encoder = new TextEncoder();
/** What the host answered so far, by kind. */
export const heard = { answers: 0, errors: 0, cancelled: 0, overloaded: 0 };
/** What the serving loop shares with the modes. */
export const state = {
  /** Once set, what the host sends is read and dropped unparsed (the cheapest reader). */
  discard: false,
  /** The id of the `attempt` call being served, for floods about it. */
  attemptId: undefined as unknown,
};
/** Told each time a chunk of the host's messages was read. */
const waiters: (() => void)[] = [];
let writing = Promise.resolve();

/** Writes bytes, all of them, after what was written before (async: reading goes on). */
export function write(bytes: Uint8Array): Promise<void> {
  writing = writing.then(async () => {
    for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
  });
  return writing;
}

export const line = (message: unknown) => write(encoder.encode(JSON.stringify(message) + "\n"));
export const answer = (id: unknown, result: unknown) => line({ jsonrpc: "2.0", id, result });
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the host's next messages have been read. */
export function nextRead(): Promise<void> {
  return new Promise((resolve) => waiters.push(resolve));
}

/** The same bytes repeated until `bytes` long at least. */
export function repeated(unit: string, bytes: number): Uint8Array {
  return encoder.encode(unit.repeat(Math.max(1, Math.ceil(bytes / unit.length))));
}

/** Writes `bytes` again and again for `seconds`; how many times. */
export async function flood(bytes: Uint8Array, seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let rounds = 0;
  while (Date.now() < until) {
    await write(bytes);
    rounds++;
  }
  return rounds;
}

/**
 * Writes the call `bytes` (an 8-digit id at `at`, renumbered each time)
 * for `seconds`, at most 16 unanswered: what a careful caller keeps.
 */
export async function paced(bytes: Uint8Array, seconds: number, at: number): Promise<string> {
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  while (Date.now() < until) {
    const id = String(sent).padStart(8, "0");
    for (let i = 0; i < 8; i++) bytes[at + i] = id.charCodeAt(i);
    await write(bytes);
    sent++;
    while (sent - heard.answers - heard.errors > 16) await nextRead();
  }
  return `calls ${sent}, answered ${heard.answers}, errors ${heard.errors}`;
}

/** Serves contract `name` (methods `attempt` and `double`) by hand, with `modes`. */
export async function serveRaw(name: string, modes: Record<string, Mode>): Promise<void> {
  const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
  const attempt = async (id: unknown, mode: string) => {
    state.attemptId = id;
    const [kind, a = "0", b = "0", c = "0"] = mode.split(":");
    const run = modes[kind];
    const said = run ? await run(a, b, c) : "unknown mode";
    state.discard = false;
    await answer(id, said);
  };
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable) {
    if (state.discard) continue;
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!text.trim()) continue;
      const message = JSON.parse(text);
      if (message.method === "$/initialize") {
        const served = [{ name, version: 1, methods: ["attempt", "double"] }];
        void answer(message.id, { protocolVersion: 1, nonce, contracts: served });
      } else if (message.method === `${name}.attempt`) {
        void attempt(message.id, String(message.params?.[0] ?? ""));
      } else if (message.method === `${name}.double`) {
        void answer(message.id, message.params[0] * 2);
      } else if (message.method !== undefined && message.id !== undefined) {
        void answer(message.id, {});
      } else if (message.error) {
        heard.errors++;
        if (message.error.code === -32800) heard.cancelled++;
        if (message.error.code === -32004) heard.overloaded++;
      } else if ("result" in message) heard.answers++;
      while (waiters.length) waiters.shift()!();
    }
  }
}
