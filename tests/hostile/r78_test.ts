// Review 78: answers held as values while the writer was backlogged, with a 10 s deadline on the
// write before them, made the deadline a minimum reading speed: an honest plugin that worked on
// each document as it came (4.2 MB/s) was ended, and a plugin reading 8 MB/s kept 64 answers of
// 15 MiB, 1.1 GiB of the host, for as long as it lived. Answers now wait beside the queue,
// bounded in bytes as the queue is, and no deadline judges a reader's speed.
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";

Deno.test("r78: an honest plugin working 100 ms on each of 64 documents of 1.05 MiB as it reads them is not ended", async () => {
  const faults: string[] = [];
  const document = "d".repeat(1.05 * 1024 * 1024);
  await using plugin = await startR73("r78_honest.ts", {
    onProtocolFault: (detail) => faults.push(detail),
  }, { read: async () => (await Promise.resolve(), document) });
  const said = await plugin.api(R73, { timeout: 60_000 }).attempt("work:64:100").catch(String);
  assert.equal(said, "read 64");
  assert.deepEqual(faults, []);
});

Deno.test("r78: a plugin that keeps 64 calls of 15 MiB answers unanswered, reading at 8 MB/s, is ended as not reading", async () => {
  const fresh = (tag: string) =>
    new TextDecoder().decode(new Uint8Array(15 * 1024 * 1024).fill(100)) + tag;
  await using plugin = await startR73("r78_drip.ts", {}, { read: (key) => fresh(key) });
  const said = await plugin.api(R73, { timeout: 120_000 }).attempt("drip:8000000:40:64")
    .catch((error) => error);
  assert.ok(said instanceof ProtocolError, `not ended: ${said}`);
  assert.match(said.message, /stopped reading its input: more than 67108864 bytes/);
});
