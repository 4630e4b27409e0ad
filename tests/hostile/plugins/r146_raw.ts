/**
 * Review 146: a plugin with no grants beside honest ones in one host, serving `bare.echo` and
 * `$/ping` (bare_echo.ts's wire, no SDK). `MODE` (rewritten by the test) picks what it sends
 * besides, from the handshake on:
 *
 * - `honest`: nothing
 * - `keys`: answers every `bare.echo` with an object of 999,000 distinct keys (11 MiB), whose
 *   parse costs the host's thread 0.6 to 2 s (made once, sent again: cheap to send)
 * - `keys-then-cheap`: holds its first two calls' answers; at its third call, writes theirs as
 *   `keys` does and the third's (a number) right after them, at once
 * - `stderr`, `blank`, `cancel`: floods, for the measures beside (stderr lines of control
 *   characters, blank lines of 4,000 spaces, cancels of calls not in progress)
 * @module
 */

const MODE: string = "honest";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const encoder = new TextEncoder();
const write = (bytes: Uint8Array) => {
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
};
const answer = (message: unknown) => write(encoder.encode(JSON.stringify(message) + "\n"));

function attack(): void {
  if (MODE === "stderr") {
    const line = encoder.encode("\x01".repeat(8000) + "\n");
    (async () => {
      for (;;) await Deno.stderr.write(line);
    })();
  }
  if (MODE === "blank") {
    const line = encoder.encode(" ".repeat(4000) + "\n");
    (async () => {
      for (;;) await Deno.stdout.write(line);
    })();
  }
  if (MODE === "cancel") {
    let n = 0;
    (async () => {
      for (;;) {
        const lines = [];
        for (let i = 0; i < 100; i++) {
          lines.push(`{"jsonrpc":"2.0","method":"$/cancel","params":{"id":${1e9 + n++}}}`);
        }
        await Deno.stdout.write(encoder.encode(lines.join("\n") + "\n"));
      }
    })();
  }
}

/** An answer whose result is an object of 999,000 distinct keys (11 MiB): cheap to send, made once. */
let keys: Uint8Array | undefined;
const held: number[] = [];
// Made before the handshake: a plugin busy after it misses pings of its own accord.
if (MODE.startsWith("keys")) keysAnswer(0);
let big: Uint8Array | undefined;
function keysAnswer(id: number): Uint8Array {
  keys ??= encoder.encode(
    "{" + Array.from({ length: 999_000 }, (_, i) => `"k${i}":0`).join(",") + "}}\n",
  );
  const head = encoder.encode(`{"jsonrpc":"2.0","id":${id},"result":`);
  const line = new Uint8Array(head.length + keys.length);
  line.set(head);
  line.set(keys, head.length);
  return line;
}

function handle(request: { id?: number; method: string; params?: unknown }): void {
  if (request.id === undefined) return;
  const { id, method, params } = request;
  if (method === "$/initialize") {
    const served = [{ name: "bare", version: 1, methods: ["echo"] }];
    answer({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts: served } });
    setTimeout(attack, 0);
  } else if (method === "bare.echo" && MODE === "big") {
    big ??= encoder.encode(`"${"x".repeat(16 * 1024 * 1024 - 100)}"}\n`);
    const head = encoder.encode(`{"jsonrpc":"2.0","id":${id},"result":`);
    const line = new Uint8Array(head.length + big.length);
    line.set(head);
    line.set(big, head.length);
    write(line);
  } else if (method === "bare.echo" && MODE === "keys") {
    write(keysAnswer(id));
  } else if (method === "bare.echo" && MODE === "keys-then-cheap") {
    if (held.length < 2) return void held.push(id);
    const cheap = encoder.encode(JSON.stringify({ jsonrpc: "2.0", id, result: 7 }) + "\n");
    const lines = [...held.map(keysAnswer), cheap];
    const all = new Uint8Array(lines.reduce((sum, line) => sum + line.length, 0));
    let at = 0;
    for (const line of lines) all.set(line, (at += line.length) - line.length);
    write(all);
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
