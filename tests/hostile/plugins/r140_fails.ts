/**
 * Review 140: a plugin that fails, one way per mode, for what its failures cost the host. No SDK
 * (bare_echo.ts's wire): `bare.echo` and `$/ping`. The test writes it into a folder of its own with
 * `MODE` set; a restart snapshots the folder again, so rewriting it turns the next start's mode.
 *
 * - `honest`: answers everything
 * - `crash-after`: answers the handshake, then exits 1 (10 ms later)
 * - `crash-hs`: exits 1 on the handshake
 * - `hang`: never answers the handshake (its start deadline ends it)
 * - `exit0`: exits 0 before reading anything
 * - `huge`: answers the handshake with 4 MiB of one unfinished line, then exits 3
 * - `malformed`: answers the handshake with contracts that are no list
 * - `crash-call`: exits 1 when called
 * - `stderr`: writes 2,000 lines of 200 bytes to stderr, answers the handshake, exits 1
 * - `spin`: answers the handshake, then spins for good (no ping is answered)
 * - `faults`: answers the handshake, then writes 500 stray lines (its fault budget ends it)
 * @module
 */

const MODE: string = "honest";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const write = (text: string) => {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
};
const answer = (message: unknown) => write(JSON.stringify(message) + "\n");

if (MODE === "exit0") Deno.exit(0);
if (MODE === "stderr") {
  const line = encoder.encode(`${"x".repeat(199)}\n`);
  for (let i = 0; i < 2000; i++) Deno.stderr.writeSync(line);
}

function initialize(id: number): void {
  if (MODE === "crash-hs") Deno.exit(1);
  if (MODE === "hang") return;
  if (MODE === "huge") {
    write(`{"jsonrpc":"2.0","id":${id},"result":{"pad":"${"a".repeat(4 * 1024 * 1024)}`);
    Deno.exit(3);
  }
  const contracts = MODE === "malformed"
    ? "bare"
    : [{ name: "bare", version: 1, methods: ["echo"] }];
  answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts } });
  if (MODE === "crash-after" || MODE === "stderr") setTimeout(() => Deno.exit(1), 10);
  if (MODE === "faults") setTimeout(() => write("stray\n".repeat(500)), 0);
  if (MODE === "spin") {
    setTimeout(() => {
      while (true) Math.random();
    }, 0);
  }
}

function handle(request: { id?: number; method: string; params?: unknown }): void {
  if (request.id === undefined) return;
  const { id, method, params } = request;
  if (method === "$/initialize") return initialize(id);
  if (method === "bare.echo") {
    if (MODE === "crash-call") Deno.exit(1);
    return answer({ jsonrpc: "2.0", id, result: (params as unknown[])[0] });
  }
  if (method === "$/ping") return answer({ jsonrpc: "2.0", id, result: {} });
  answer({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
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
