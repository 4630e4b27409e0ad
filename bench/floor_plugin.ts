/**
 * The floor's plugin: the least a Deno stdio JSON-RPC plugin can do.
 * Split stdin on newlines, JSON.parse, answer greeter.sayHello, write
 * JSON.stringify + "\n". No validation, no handshake, no SDK.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl = buffered.indexOf("\n");
  if (nl === -1) continue;
  let out = "";
  while (nl !== -1) {
    const request = JSON.parse(buffered.slice(0, nl));
    buffered = buffered.slice(nl + 1);
    out +=
      JSON.stringify({ jsonrpc: "2.0", id: request.id, result: `hello, ${request.params[0]}` }) +
      "\n";
    nl = buffered.indexOf("\n");
  }
  await Deno.stdout.write(encoder.encode(out));
}
