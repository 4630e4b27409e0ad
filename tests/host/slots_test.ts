import assert from "node:assert/strict";
import { Slots } from "../../runner/host/slots.ts";

Deno.test("Slots hands slots out in order and queues beyond the limit", async () => {
  const slots = new Slots(2);
  assert.equal(slots.acquire(), undefined);
  assert.equal(slots.acquire(), undefined);
  const order: number[] = [];
  const third = slots.acquire()!.then(() => order.push(3));
  const fourth = slots.acquire()!.then(() => order.push(4));
  assert.equal(slots.queued, 2);
  slots.release();
  slots.release();
  await Promise.all([third, fourth]);
  assert.deepEqual(order, [3, 4]);
});

Deno.test("Slots: an aborted wait leaves the line and rejects with the reason", async () => {
  const slots = new Slots(1);
  slots.acquire();
  const controller = new AbortController();
  const waiting = slots.acquire(controller.signal)!;
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  assert.equal(slots.queued, 0);
  slots.release();
  assert.equal(slots.acquire(), undefined, "the slot came back, not to the aborted waiter");
  assert.throws(() => new Slots(0), TypeError);
});
