// T22: a plugin that refuses the handshake with text of its own making: a terminal escape, a
// bidi override and a newline that forges a line of plugbox's own. Without the SDK.
const line = new TextDecoder().decode((await Deno.stdin.readable.getReader().read()).value);
const request = JSON.parse(line.split("\n")[0]);
const message = "\x1b[2J\x1b[31mno\u202e\nProtocolError: forged";
Deno.stdout.writeSync(
  new TextEncoder().encode(
    JSON.stringify({ jsonrpc: "2.0", id: request.id, error: { code: -32000, message } }) + "\n",
  ),
);
