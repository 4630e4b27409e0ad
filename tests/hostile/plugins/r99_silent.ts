/**
 * Review 99: a plugin that takes every call and answers none (it answers
 * only the handshake and `$/ping`), so the host's calls past `maxInFlight`
 * wait in line until they are aborted or time out. No SDK: it costs the
 * host nothing but its line.
 * @module
 */

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const answer = (message: unknown) =>
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));

function handle(request: { id?: number; method: string }): void {
  const { id, method } = request;
  if (id === undefined) return;
  if (method === "$/initialize") {
    const served = [{ name: "bare", version: 1, methods: ["echo"] }];
    answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts: served } });
  } else if (method === "$/ping") {
    answer({ jsonrpc: "2.0", id, result: {} });
  } // every other call is held, unanswered
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
