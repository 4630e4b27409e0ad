/**
 * Review 108: the cheapest protocol plugin (as `tests/fixtures/bare_echo.ts`)
 * that, on SIGUSR1, leaves a `sleep` (its run grant) in a session of its own
 * holding its stderr, and exits: the host knows of the death at once, and
 * waits out its drain's 500 ms for that stderr before the exit is reported.
 * @module
 */

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const answer = (message: unknown) =>
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));

Deno.addSignalListener("SIGUSR1", () => {
  new Deno.Command("/usr/bin/sleep", {
    args: ["30.108"],
    stdin: "null",
    stdout: "null",
    detached: true,
  }).spawn();
  Deno.exit(1);
});

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
Deno.exit(0);
