/**
 * Review 153: a plugin with no grants serving `bare.echo` and `$/ping` (r146_raw.ts's wire, no
 * SDK). `MODE` (rewritten by the test) picks its answer to `bare.echo`:
 *
 * - `union`: an array of 200,000 `{"a":"x"}` (2 MiB, made once): cheap to parse (15 to 25 ms), but
 *   checked against a union of eight objects it takes the host's thread 0.15 to 0.25 s
 * - `big`: a string of 16 MiB, for a contract's number
 * @module
 */

const MODE: string = "union";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const write = (bytes: Uint8Array) => {
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
};
const answer = (message: unknown) => write(encoder.encode(JSON.stringify(message) + "\n"));

const body = encoder.encode(
  MODE === "union"
    ? "[" + Array.from({ length: 200_000 }, () => `{"a":"x"}`).join(",") + "]}\n"
    : `"${"x".repeat(16 * 1024 * 1024 - 100)}"}\n`,
);

function handle(request: { id?: number; method: string }): void {
  if (request.id === undefined) return;
  const { id, method } = request;
  if (method === "$/initialize") {
    const served = [{ name: "bare", version: 1, methods: ["echo"] }];
    answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts: served } });
  } else if (method === "bare.echo") {
    const head = encoder.encode(`{"jsonrpc":"2.0","id":${id},"result":`);
    const line = new Uint8Array(head.length + body.length);
    line.set(head);
    line.set(body, head.length);
    write(line);
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
