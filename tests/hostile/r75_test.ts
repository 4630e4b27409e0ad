// Review 75: the capability share's last fixes (434f538, 3caf5aa): the owed horizon, the slots
// held until answers are written counted as queue room, a waiting call's cancel charged its
// answer. Each test fails on the code it was written against (c0fd95e); the numbers in the
// messages are this machine's.
import assert from "node:assert/strict";
import { busy, testDeadline } from "../_helpers.ts";
import { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";
import { startHonest75 } from "./_r75.ts";

Deno.test("r75: an honest plugin's two stores, one after the other, each a synchronous step of 500 ms at a share of 0.1, are both answered", async () => {
  // One call's run is charged whole when it returns: 500 ms less the burst (40 ms) and what the
  // share earned meanwhile (50 ms) is 410 ms owed, past the horizon (the share of 4 s: 400 ms), and
  // the plugin's next call, sent as it read the answer, is refused "overloaded". At the default
  // share the same holds of a step of 1.5 s (1,024 ms owed, over 1,000).
  testDeadline(30_000);
  const faults: string[] = [];
  await using plugin = await startHonest75(faults, 0.1, {
    store: (_key, value) => (busy(500), value.length),
  });
  const said = await plugin.api(R73, { timeout: 20_000 }).attempt("sequential:2");
  assert.equal(said, "stored 2");
  assert.deepEqual(faults, []);
});

Deno.test("r75: an honest plugin's two stores at once, each a synchronous step of 500 ms at a share of 0.1, are both answered", async () => {
  // Promise.all of two: the second is read after the first ran, with 410 ms owed, and is refused
  // "overloaded" though the SDK kept within the queue (at 0.01 a step of 45 ms does the same).
  testDeadline(30_000);
  const faults: string[] = [];
  await using plugin = await startR73("r73_honest.ts", {
    capabilityTimeShare: 0.1,
    onProtocolFault: (detail) => faults.push(detail),
  }, { store: (_key, value) => (busy(500), value.length) });
  const said = await plugin.api(R73, { timeout: 20_000 }).attempt("burst:2:1");
  assert.equal(said, "stored 2");
  assert.deepEqual(faults, []);
});

Deno.test("r75: a plugin that stops reading its answers cannot have the host hold more than its queue's 16 MiB of calls", async () => {
  // 64 calls of the 256 KiB document fill the plugin's pipe: their slots are held until their
  // answers are written, which is never while it does not read, and each counts as queue room
  // (3caf5aa), with its place in the queue's bytes: 64 calls of 2 MB that will not run for as
  // long, then 256 of 65 KB, are held together, 144 MB where the queue is 16 MiB.
  testDeadline(60_000);
  await using plugin = await startR73("r75_raw.ts", { onProtocolFault: () => {} });
  const said = await plugin.api(R73, { timeout: 45_000 }).attempt(
    "hoard:64:64:2000000:256:65000:20:1500",
  ).then(String, String);
  const heard = said.startsWith("sent ") ? JSON.parse(said.slice(said.indexOf("{"))) : undefined;
  // Ended, or each call past the queue refused: held, at most the queue and one call over it.
  const held = heard?.answeredBytes ?? 0;
  assert.ok(
    held <= 16 * 1024 * 1024 + 4_000_000,
    `${(held / 1e6).toFixed(1)} MB of calls held at once while the plugin read nothing: ${said}`,
  );
});
