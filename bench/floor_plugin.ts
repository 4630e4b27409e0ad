/**
 * The floor's plugin: the least a Deno stdio JSON-RPC plugin can do, framed
 * as tightly as framework-free Deno code can. Newlines are found in the
 * bytes (a partial line is kept as a list of chunks and joined once, so a
 * long line costs linear time), each chunk is decoded once, and a chunk's
 * answers go out in one blocking write. stdin is read directly into one
 * buffer, not through `Deno.stdin.readable`: that loads Deno's streams code
 * (about 5 ms of a start) and queues each chunk. No validation, no
 * handshake, no SDK.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const parts: Uint8Array[] = [];
let partBytes = 0;

function writeAll(bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
}

/** The pending parts and `tail`, as one buffer. */
function joined(tail: Uint8Array): Uint8Array {
  if (parts.length === 0) return tail;
  const all = new Uint8Array(partBytes + tail.length);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  all.set(tail, at);
  parts.length = 0;
  partBytes = 0;
  return all;
}

const buffer = new Uint8Array(64 * 1024);
for (let count; (count = await Deno.stdin.read(buffer)) !== null;) {
  const chunk = buffer.subarray(0, count);
  const last = chunk.lastIndexOf(10);
  if (last === -1) {
    parts.push(chunk.slice()); // the buffer is read into again
    partBytes += chunk.length;
    continue;
  }
  const text = decoder.decode(joined(chunk.subarray(0, last + 1)));
  if (last + 1 < chunk.length) {
    parts.push(chunk.slice(last + 1));
    partBytes += chunk.length - last - 1;
  }
  let out = "";
  let from = 0;
  for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", from)) {
    const request = JSON.parse(text.slice(from, nl));
    from = nl + 1;
    out +=
      JSON.stringify({ jsonrpc: "2.0", id: request.id, result: `hello, ${request.params[0]}` }) +
      "\n";
  }
  writeAll(encoder.encode(out));
}
