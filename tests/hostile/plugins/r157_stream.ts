/**
 * Review 157 (mine): a plugin with no grants serving `flow.items`, a stream, and `$/ping` by hand
 * (bare_echo.ts's wire, no SDK). `MODE` (rewritten by the test) picks its items:
 *
 * - `keys`: every item an object of `KEYS` distinct keys (999,000: 11 MiB, whose parse costs the
 *   host's thread 0.6 to 2 s; made once, sent again: cheap to send), sent while it holds credit
 * - `keys-then-cheap`: at its first credit, writes two such items and one `{"k":1}` at once (the
 *   test grants a window of 64 MiB), then nothing more
 *
 * The stream never ends on its own: the consumer leaves it.
 * @module
 */

const MODE: string = "keys";
const KEYS: number = 999_000;

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const write = (bytes: Uint8Array) => {
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
};
const answer = (message: unknown) => write(encoder.encode(JSON.stringify(message) + "\n"));

const keys = "{" + Array.from({ length: KEYS }, (_, i) => `"k${i}":0`).join(",") + "}";
const streams = new Map<number, { items: number; bytes: number; line: Uint8Array }>();
const itemLine = (id: number, value: string) =>
  encoder.encode(`{"jsonrpc":"2.0","method":"$/item","params":{"id":${id},"value":${value}}}\n`);

/** Sends items while the stream holds credit (PROTOCOL.md 10.2: the last may take bytes below 0). */
function pump(id: number): void {
  const open = streams.get(id);
  if (open && MODE === "keys-then-cheap") {
    if (open.line.length === 0) return;
    const lines = [open.line, open.line, itemLine(id, '{"k":1}')];
    open.line = new Uint8Array();
    const all = new Uint8Array(lines.reduce((sum, line) => sum + line.length, 0));
    let at = 0;
    for (const line of lines) all.set(line, (at += line.length) - line.length);
    return write(all);
  }
  while (open && open.items > 0 && open.bytes > 0) {
    open.items--;
    open.bytes -= open.line.length - 1;
    write(open.line);
  }
}

function handle(message: { id?: number; method: string; params?: unknown }): void {
  const { id, method, params } = message;
  if (method === "$/credit") {
    const grant = params as { id: number; items: number; bytes: number };
    const open = streams.get(grant.id);
    if (open) {
      open.items += grant.items;
      open.bytes += grant.bytes;
      pump(grant.id);
    }
    return;
  }
  if (method === "$/cancel") {
    const cancelled = (params as { id: number }).id;
    if (streams.delete(cancelled)) answer({ jsonrpc: "2.0", id: cancelled, result: null });
    return;
  }
  if (id === undefined) return;
  if (method === "$/initialize") {
    const served = [{ name: "flow", version: 1, methods: ["items"] }];
    answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts: served } });
  } else if (method === "flow.items") {
    streams.set(id, { items: 0, bytes: 0, line: itemLine(id, keys) });
  } else if (method === "$/ping") {
    answer({ jsonrpc: "2.0", id, result: {} });
  } else {
    answer({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
  }
}

let buffered = "";
const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) !== -1) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.trim()) handle(JSON.parse(line));
  }
}
Deno.exit(0);
