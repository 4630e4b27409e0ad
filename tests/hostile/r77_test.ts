// Review 77: answers held as values while the host's writer has no room (d990c6e). With a
// `maxQueuedBytes` under twice the line cap, an honest plugin reading answers of 1.5 MiB was still
// ended as not reading: the line judged to fit behind a write in flight was half the queue cap,
// where a line behind a write is counted whole. (The review's other finding, a plugin that stopped
// reading with its answers held, is r74's last test.)
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";

/** A string of `bytes` that is its own (`repeat` shares its halves: a few bytes held). */
const fresh = (bytes: number, tag: string) =>
  new TextDecoder().decode(new Uint8Array(bytes).fill(100)) + tag;

Deno.test("r77: an honest plugin reading 8 documents of 1.5 MiB under maxQueuedBytes of 1 MiB is not ended as not reading", async () => {
  const faults: string[] = [];
  let last: Promise<unknown> = Promise.resolve();
  await using plugin = await startR73("r73_honest.ts", {
    maxQueuedBytes: 1024 * 1024,
    onProtocolFault: (detail) => faults.push(detail),
  }, {
    // Each a tick after the one before: its answer is sent while the one before is being written.
    read: (key) => {
      const answer = last.then(() => new Promise((resolve) => setTimeout(resolve, 0)))
        .then(() => fresh(1.5 * 1024 * 1024, key));
      last = answer;
      return answer;
    },
  });
  const said = await plugin.api(R73, { timeout: 30_000 }).attempt("read:8").catch((error) =>
    error instanceof ProtocolError ? `ended: ${error.message}` : String(error)
  );
  assert.equal(said, "read 8");
  assert.deepEqual(faults, []);
});
