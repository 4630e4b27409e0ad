/**
 * Review 116: a plugin that floods the host's reading of its stdout, by
 * mode of `probe.attempt`: `progress:<fill>:<count>`, `count` progress
 * reports for the call itself (which its caller takes no progress of), each
 * line 8 KiB, eight to a write, their value a string of `fill`: `ascii`
 * ("x") or `invalid` (the byte C3 again and again: no UTF-8, yet a JSON
 * string to a scan).
 * @module
 */

import { answer, serveProbe } from "./_raw.ts";

const encoder = new TextEncoder();

/** One progress line of 8 KiB for call `id`, newline included, its value `fill` bytes. */
function progressLine(id: number, fill: number): Uint8Array {
  const head = encoder.encode(
    `{"jsonrpc":"2.0","method":"$/progress","params":{"id":${id},"value":"`,
  );
  const tail = encoder.encode('"}}\n');
  const line = new Uint8Array(8192);
  line.set(head);
  line.fill(fill, head.length, line.length - tail.length);
  line.set(tail, line.length - tail.length);
  return line;
}

await serveProbe((mode, id) => {
  const [what, fill, count] = mode.split(":");
  if (what !== "progress") return Promise.resolve(answer(id, "unknown mode"));
  const line = progressLine(id, fill === "invalid" ? 0xc3 : 0x78);
  const lines = new Uint8Array(line.length * 8);
  for (let i = 0; i < 8; i++) lines.set(line, i * line.length);
  for (let sent = 0; sent < Number(count); sent += 8) {
    for (let at = 0; at < lines.length;) at += Deno.stdout.writeSync(lines.subarray(at));
  }
  answer(id, "flooded");
  return Promise.resolve();
});
