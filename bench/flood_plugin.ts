/**
 * The flooder for the neighbour benchmark: answers the handshake, then, on
 * `flood.start`, writes 15 MiB lines of nesting (over the host's depth cap,
 * so each is a fault the host drops) as fast as the pipe takes them, and
 * never reads again. No SDK: the protocol by hand.
 * @module
 */

const encoder = new TextEncoder();
const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const write = (bytes: Uint8Array) => {
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
};
const levels = (15 * 1024 * 1024) / 2;
const flood = encoder.encode(
  `{"jsonrpc":"2.0","id":0,"result":${"[".repeat(levels)}${"]".repeat(levels)}}\n`,
);

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) !== -1) {
    const { id, method } = JSON.parse(buffered.slice(0, newline));
    buffered = buffered.slice(newline + 1);
    if (method === "$/initialize") {
      const contracts = [{ name: "flood", version: 1, methods: ["start"] }];
      write(encoder.encode(
        JSON.stringify({ jsonrpc: "2.0", id, result: { protocolVersion: 1, nonce, contracts } }) +
          "\n",
      ));
    } else if (method === "flood.start") {
      for (;;) write(flood);
    }
  }
}
