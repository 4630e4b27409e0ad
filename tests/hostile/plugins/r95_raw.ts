/**
 * Review 95: a plugin that attacks the host's reading of its stdout and
 * stderr, by mode of `probe.attempt`: stderr lines of 8 KiB of characters
 * that each escape long, of bidi controls, or of plain text, for a while
 * (`stderr:<kind>:<ms>`); progress reports for the call itself, each line
 * 4 KiB of one string or of 1,341 empty objects (`progress:<kind>:<count>`);
 * a line of `<MiB>` begun and never ended, the pipe kept open (`long-stall:<MiB>`).
 * @module
 */

import { answer, serveProbe } from "./_raw.ts";

const encoder = new TextEncoder();

/** One stderr line of 8191 bytes of `kind`. */
function stderrLine(kind: string): Uint8Array {
  const char = kind === "escapes" ? "\x01" : kind === "bidi" ? "\u202e" : "x";
  const count = Math.floor(8191 / encoder.encode(char).length);
  return encoder.encode(char.repeat(count) + "\n");
}

await serveProbe(async (mode, id) => {
  const [what, kind, arg] = mode.split(":");
  if (what === "stderr") {
    const line = stderrLine(kind);
    const lines = new Uint8Array(line.length * 8);
    for (let i = 0; i < 8; i++) lines.set(line, i * line.length);
    const until = Date.now() + Number(arg);
    let written = 0;
    while (Date.now() < until) {
      for (let at = 0; at < lines.length;) at += Deno.stderr.writeSync(lines.subarray(at));
      written += lines.length;
    }
    answer(id, `flooded: ${written} bytes`);
  } else if (what === "progress") {
    // `count` reports for this call, each line within the 4 KiB a host parses whole.
    const value = kind === "objects" ? "[" + "{},".repeat(1340) + "{}]" : `"${"x".repeat(4020)}"`;
    const line = encoder.encode(
      `{"jsonrpc":"2.0","method":"$/progress","params":{"id":${id},"value":${value}}}\n`,
    );
    const lines = new Uint8Array(line.length * 16);
    for (let i = 0; i < 16; i++) lines.set(line, i * line.length);
    for (let sent = 0; sent < Number(arg); sent += 16) {
      for (let at = 0; at < lines.length;) at += Deno.stdout.writeSync(lines.subarray(at));
    }
    answer(id, "flooded");
  } else if (what === "long-stall") {
    // A long line, `kind` MiB of a string, begun and never ended: the host holds it.
    const bytes = encoder.encode(
      `{"jsonrpc":"2.0","id":${id},"result":"${"x".repeat(Number(kind) * 1024 * 1024)}`,
    );
    for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
    Deno.stderr.writeSync(encoder.encode("stalled\n"));
    await new Promise(() => setInterval(() => {}, 1000));
  } else answer(id, "unknown mode");
});
