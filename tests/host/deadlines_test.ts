import assert from "node:assert/strict";
import { Deadlines } from "../../runner/host/deadlines.ts";
import { within } from "../_helpers.ts";

Deno.test("Deadlines fires expired entries in order, skips settled ones, and handles mixed timeouts", async () => {
  const deadlines = new Deadlines();
  const fired: string[] = [];
  let done!: () => void;
  const last = new Promise<void>((resolve) => done = resolve);
  deadlines.add(40, () => fired.push("a40"));
  const settled = deadlines.add(20, () => fired.push("settled"));
  deadlines.add(10, () => fired.push("b10"));
  deadlines.add(60, () => {
    fired.push("c60");
    done();
  });
  settled.done = true;
  await within(last, 2000, "the last deadline");
  assert.deepEqual(fired, ["b10", "a40", "c60"]);
  deadlines.clear();
});

Deno.test("Deadlines fires in deadline order when a late timer finds several queues expired", async () => {
  const deadlines = new Deadlines();
  const fired: string[] = [];
  let done!: () => void;
  const last = new Promise<void>((resolve) => done = resolve);
  // The 40 ms queue is created first, so it comes first among the queues.
  deadlines.add(40, () => fired.push("a40"));
  deadlines.add(10, () => fired.push("b10"));
  deadlines.add(20, () => {
    fired.push("c20");
    done();
  });
  // A busy host: the event loop is held until every deadline has passed,
  // so one late firing finds all three expired.
  const until = Date.now() + 60;
  while (Date.now() < until) { /* hold the loop */ }
  await within(last, 2000, "the deadlines");
  assert.deepEqual(fired, ["b10", "c20", "a40"]);
  deadlines.clear();
});

Deno.test("Deadlines does not keep settled entries of a busy queue", () => {
  const deadlines = new Deadlines();
  for (let i = 0; i < 100_000; i++) deadlines.add(30_000, () => {}).done = true;
  assert.equal(deadlines.held, 1, "only the latest settled entry is still held");
  const open = Array.from({ length: 10 }, () => deadlines.add(30_000, () => {}));
  assert.equal(deadlines.held, 10, "the settled one was dropped when the next arrived");
  for (const entry of open) entry.done = true;
  deadlines.clear();
  assert.equal(deadlines.held, 0);
});
