// The SDK's keeping within the host's limits, against a real host-side Peer in memory.
import assert from "node:assert/strict";
import { Peer } from "../../runner/wire/peer.ts";
import { CallSlots, HostLimits } from "../../runner/plugin/host_limits.ts";
import { until } from "../_helpers.ts";

/** A turn of the event loop: whatever the last settle queued has run. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

// Review 66: the SDK freed a call's slot when its caller gave up, while the host kept its own
// until a capability that ignores its signal finished: the next batch was refused "overloaded".
Deno.test("CallSlots: a call given up holds its slot until the host answers it", async () => {
  const held: (() => void)[] = [];
  const seen: number[] = [];
  const peers: Peer[] = [];
  const wire = (to: number) => (message: unknown) =>
    queueMicrotask(() => peers[to].receive(JSON.parse(JSON.stringify(message))));
  peers.push(new Peer(wire(1)));
  peers.push(
    new Peer(wire(0), {
      // A capability that ignores its signal: answers only when the test says.
      onRequest: (_method, params) => {
        const n = (params as number[])[0];
        seen.push(n);
        return new Promise((resolve) => held.push(() => resolve(n)));
      },
    }),
  );
  const limits = new HostLimits();
  limits.take({ maxCapabilityCalls: 2 });
  const slots = new CallSlots(limits, peers[0]);
  const stop = new AbortController();
  const given = [1, 2].map((n) => slots.request("m", [n], { signal: stop.signal }).catch((e) => e));
  const third = slots.request("m", [3], {});
  await until(() => seen.length === 2, 1000, "two calls at the host");
  const reason = new Error("gave up");
  stop.abort(reason);
  assert.deepEqual(await Promise.all(given), [reason, reason]);
  await turn();
  await turn();
  assert.deepEqual(seen, [1, 2], "the third waits: the host still holds both");
  held[0](); // the host's late answer to the first
  await until(() => seen.length === 3, 1000, "the third call at the host");
  held[2]();
  assert.equal(await third, 3);
  held[1]();
});
