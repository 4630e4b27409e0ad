/**
 * Review 80: the cheapest protocol plugin (as `tests/fixtures/bare_echo.ts`)
 * that stays once its input closes, until a SIGTERM: each stop of it takes the
 * stop ladder's grace period, long enough for a start begun beside it to spawn.
 * @module
 */

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const answer = (message: unknown) =>
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));

function handle(request: { id?: number; method: string; params?: unknown }): void {
  if (request.id === undefined) return;
  const { id, method, params } = request;
  if (method === "$/initialize") {
    const served = [{ name: "bare", version: 1, methods: ["echo"] }];
    answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts: served } });
  } else if (method === "bare.echo") {
    answer({ jsonrpc: "2.0", id, result: (params as unknown[])[0] });
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
// Input closed: lingers until SIGTERM (the default action ends it).
setInterval(() => {}, 60_000);
