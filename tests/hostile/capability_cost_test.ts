// What a plugin's capability calls cost the host's thread, bounded by time, not by count (review
// 69, left at its stop): a valid 2 MB argument costs the host 10 to 17 times the plugin's CPU to
// parse and check, and nothing bounded their rate but the 320 calls in flight, so one plugin with
// no permission could take the event loop every other plugin shares. The host now measures each
// call's synchronous run (the parse of its arguments, their check, the capability's first step)
// against `capabilityTimeShare` of its thread: past it, the plugin's calls wait their turn. Here the
// capability's first step is the cost (5 ms of this thread each), so the share's effect is exact:
// the times asserted are lower bounds the share itself sets, never how fast anything ran.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { R69 } from "./plugins/r69_contract.ts";
import { hostile } from "./_hostile.ts";
import { startR69Honest } from "./_r69.ts";
import { busy, rejected } from "../_helpers.ts";

async function burst(share: number | undefined, calls: number, workMs: number) {
  const began: number[] = [];
  const faults: string[] = [];
  await using plugin = await startR69Honest({
    capabilityTimeShare: share,
    onProtocolFault: (detail) => faults.push(detail),
  }, (_key, value) => {
    began.push(performance.now());
    busy(workMs);
    return value.length;
  });
  const said = await plugin.api(R69, { timeout: 120_000 }).attempt(`burst:${calls}:1024`);
  return { said, faults, spread: began.at(-1)! - began[0], began };
}

Deno.test("capability cost: a plugin's calls past its share of the host's thread wait their turn; every one is answered, none is a fault", async () => {
  const calls = 40;
  const work = 5;
  const { said, faults, spread } = await burst(undefined, calls, work);
  assert.equal(said, `stored ${calls}`);
  assert.deepEqual(faults, []);
  // Before the last call began, the calls before it had taken (calls - 1) × work ms of the host's
  // thread: at most the 100 ms burst plus the default share (0.25) of the time since the first.
  const least = ((calls - 1) * work - 100) / 0.25;
  assert.ok(
    spread >= least - 2,
    `the calls began within ${spread.toFixed(0)} ms (at least ${least})`,
  );
});

Deno.test("capability cost: the share a host gives is the one kept", async () => {
  const calls = 30;
  const work = 5;
  const { said, spread } = await burst(0.1, calls, work);
  assert.equal(said, `stored ${calls}`);
  // At the default share (0.25) the same calls could begin within 180 ms.
  const least = ((calls - 1) * work - 100) / 0.1;
  assert.ok(
    spread >= least - 2,
    `the calls began within ${spread.toFixed(0)} ms (at least ${least})`,
  );
});

Deno.test("capability cost: a share that is not over 0 and at most 1 is refused, naming the option", async () => {
  for (const share of [0, -1, 1.5, Number.NaN]) {
    const bad = await rejected<TypeError>(
      startPlugin(hostile("r69_honest.ts"), { contracts: [R69], capabilityTimeShare: share }),
    );
    assert.ok(bad instanceof TypeError);
    assert.match(bad.message, /"capabilityTimeShare" must be a share of time over 0 and at most 1/);
  }
});

// The share counts what reading a call's line cost the host (its scan, a long one's in the
// plugin's scanning Worker), not only its handler: a 2 MiB string costs the plugin a copy and the
// host its scan, which dwarfs the string's parse. With a share so small that its burst is under a
// microsecond, a call whose reading was charged waits before it runs; were only its handler
// timed, the first call would run at once. The plugin's answer to the host's call follows the
// capability call's line, so once it arrives the host has read (and judged) that line.
Deno.test("capability cost: what reading and scanning a call's line cost the host is charged before it runs", async () => {
  const began: number[] = [];
  await using plugin = await startR69Honest({ capabilityTimeShare: 1e-6 }, (_key, value) => {
    began.push(performance.now());
    return value.length;
  });
  assert.equal(await plugin.api(R69).attempt(`send:0:${2 * 1024 * 1024 - 256}`), "sent");
  assert.deepEqual(began, [], "the call waits for the share its reading spent");
});
