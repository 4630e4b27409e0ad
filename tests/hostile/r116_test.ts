// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
/**
 * Review 116: what a plugin's stdout costs the host's reading of it, past
 * what its lines are weighed at. Each test failed on the code it was
 * written against (e524a1b); the numbers in the messages are this machine's.
 * @module
 */
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { LineTransport } from "../../runner/wire/mod.ts";
import { threadCpuMs } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

// A chunk's lines were decoded together, as the text of its short lines, long lines too, whose
// text is never read. A long line weighs what its scan costs (a dropped progress report over 4 KiB:
// one unit per 256 bytes), but 8 KiB of the byte C3, a JSON string to the scan and no UTF-8, cost
// nine times its scan to decode: 4,000 such reports held the host's thread 386 to 398 ms against
// 122 to 127 ms for the same reports of "x", weighed the same (8 faults of the 100 allowed in
// 10 s). Paced within the budget, about 5,000 a second without end: half of the host's thread,
// where "x" costs an eighth. Now only short lines are decoded: 79 to 112 ms against 100 to 109.
// A ratio of the thread's CPU (schedstat), between the two with a margin either side.
Deno.test("r116: long lines of invalid UTF-8 cost the host's thread what the same lines of ASCII cost", async () => {
  const faults: string[] = [];
  await using plugin = await startPlugin(hostile("r116_raw.ts"), {
    contracts: [Probe],
    isolation: "deno",
    onProtocolFault: (detail) => faults.push(detail),
  });
  const api = plugin.api(Probe, { timeout: 30_000 });
  const flood = async (fill: string) => {
    const began = threadCpuMs({ settled: true });
    assert.equal(await api.attempt(`progress:${fill}:4000`), "flooded");
    return threadCpuMs({ settled: true }) - began;
  };
  await flood("ascii"); // warm: what is compiled once is no line's
  const ascii = await flood("ascii");
  const invalid = await flood("invalid");
  assert.ok(
    invalid <= 1.8 * ascii + 10,
    `4,000 lines of 8 KiB: ${invalid.toFixed(0)} ms of invalid UTF-8, ${
      ascii.toFixed(0)
    } ms of ASCII`,
  );
  assert.ok(faults.length < 100, `${faults.length} faults`);
});

// The fix's other side: a chunk of short and long lines, in any order, is read as before: each
// short line with its text, each long one from its bytes, a CRLF's CR dropped.
Deno.test("r116: a chunk's short lines keep their text around long lines of invalid UTF-8", async () => {
  const encoder = new TextEncoder();
  const long = (id: number) => {
    const head = `{"jsonrpc":"2.0","id":${id},"result":"`;
    return encoder.encode(`${head}${"x".repeat(5000)}"}`).fill(
      0xc3,
      head.length,
      head.length + 5000,
    );
  };
  const text = (id: number) => `{"jsonrpc":"2.0","id":${id},"result":"${"é".repeat(80)}"}`;
  const short = (id: number, end = "") => encoder.encode(text(id) + end);
  const parts = [short(1), long(2), long(3), short(4, "\r"), encoder.encode("{}"), long(5)];
  const chunk = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const part of parts) chunk.set(part, at), at += part.length, chunk[at++] = 0x0a;
  const transport = new LineTransport(
    new ReadableStream({ start: (c) => (c.enqueue(chunk), c.close()) }),
    new WritableStream(),
    { scan: { limits: { maxDepth: 64, maxMembers: 1000 } } },
  );
  const seen: string[] = [];
  await transport.run({
    onMessage: (_value, line) => void seen.push(`message ${line}`),
    onScanned: (bytes, scan, text) =>
      void seen.push(`${scan.verdict} ${bytes.length} ${text === undefined ? "-" : text.length}`),
    onStray: (line) => void seen.push(`stray ${line}`),
  });
  assert.deepEqual(seen, [
    `ok ${short(1).length} ${text(1).length}`,
    `ok ${long(2).length} -`,
    `ok ${long(3).length} -`,
    `ok ${short(4).length} ${text(4).length}`,
    "message {}",
    `ok ${long(5).length} -`,
  ]);
});
