// Review 79: answers beside the queue were moved behind each write as it began, counted against the
// cap that judges what the host sends: a plugin sent answers of about twice the cap at once (which
// the cap allows) and reading all it was sent was ended as not reading by a call of the host's.
import assert from "node:assert/strict";
import { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";

Deno.test("r79: an honest plugin reading twice the queue cap of answers is not ended by a call the host sends meanwhile", async () => {
  const faults: string[] = [];
  const document = "d".repeat(100 * 1024);
  let served = 0;
  let meanwhile: Promise<string> | undefined;
  let call: (mode: string) => Promise<string> = () => Promise.reject(new Error("not started"));
  await using plugin = await startR73("r78_honest.ts", {
    maxQueuedBytes: 1024 * 1024,
    onProtocolFault: (detail) => faults.push(detail),
  }, {
    read: () => {
      // Answered at once, 20 in one tick: about 1 MiB in the next write, as much beside. The
      // host's call goes once that write has begun (the plugin works 50 ms on each document).
      if (++served === 20) setTimeout(() => meanwhile = call(`pad:0:0:${"p".repeat(64 * 1024)}`));
      return document;
    },
  });
  const api = plugin.api(R73, { timeout: 60_000 });
  call = (mode) => api.attempt(mode).catch(String);
  assert.equal(await call("work:20:50"), "read 20");
  assert.equal(await meanwhile, "read 0");
  assert.deepEqual(faults, []);
});
