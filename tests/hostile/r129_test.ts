// Review 129: progress reports valid against their schema, yet carrying values the host parses
// and throws away (a member its schema strips, or one beside the value in `params`). At the 2 MiB
// a second the host takes, 64 KiB reports of 32,000 such numbers cost its thread 35 to 43 ms a
// second against 15 for the bare reports, the plugin's 10 to 12, and no fault; a report invalid
// by the same bytes was work for nothing already (review 90). What a delivered report drops is
// work for nothing now, by its values. Each test failed on the code it was written against
// (dc2d2bd), but the bare reports' and the transform's, which pin what must stay free.
import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract, stream } from "../../contract.ts";
import { startPlugin } from "../../mod.ts";
import { hostile } from "./_hostile.ts";

const methods = {
  slow: z.function({ input: [z.string()], output: z.string() }),
  items: z.function({ input: [z.string()], output: stream(z.object({ n: z.number() })) }),
};
const Tight = defineContract({
  name: "r129",
  version: 1,
  methods,
  progress: { slow: z.object({ done: z.number() }) },
});
/** A schema that makes the 32,000 numbers one: what it keeps is no measure of what was sent. */
const Summed = defineContract({
  name: "r129",
  version: 1,
  methods,
  progress: { slow: z.array(z.number()).transform((all) => all.length) },
});

/** Two seconds of `kind` reports at 30 a second, 64 KiB each; the faults and reports delivered. */
async function flood(
  kind: "none" | "strip" | "beside" | "plain",
  contract: typeof Tight | typeof Summed = Tight,
): Promise<{ faults: string[]; delivered: number }> {
  const faults: string[] = [];
  let delivered = 0;
  await using plugin = await startPlugin(hostile("r129_raw.ts"), {
    contracts: [contract],
    isolation: "deno",
    onProtocolFault: (detail) => faults.push(detail),
  });
  // The two contracts differ only in the progress type the listener gets, which it ignores.
  const said = await plugin.api(contract as typeof Tight).slow.with({
    timeout: 30_000,
    onProgress: () => delivered++,
  })(`${kind}:2000`);
  assert.equal(said, "flooded");
  return { faults, delivered };
}

const WASTE = /lines that did nothing/;

Deno.test("r129: valid progress whose schema strips most of each report is work for nothing", async () => {
  // 60 reports, each 32,000 numbers parsed and stripped: 3.9 faults' work (none, unfixed).
  const { faults, delivered } = await flood("strip");
  assert.ok(delivered > 0, "the reports were valid, and delivered");
  assert.ok(faults.filter((f) => WASTE.test(f)).length >= 2, `faults: ${faults}`);
});

Deno.test("r129: valid progress with a member beside its value in params is work for nothing", async () => {
  const { faults, delivered } = await flood("beside");
  assert.ok(delivered > 0, "the reports were valid, and delivered");
  assert.ok(faults.filter((f) => WASTE.test(f)).length >= 2, `faults: ${faults}`);
});

Deno.test("r129: progress whose values all reach the listener costs the plugin nothing, nor one its schema transforms", async () => {
  // The bare value, and 32,000 numbers a transform makes one: both what the contract asks for.
  for (const [kind, contract] of [["none", Tight], ["plain", Summed]] as const) {
    const { faults, delivered } = await flood(kind, contract);
    assert.ok(delivered > 0, `${kind}: no report delivered`);
    assert.deepEqual(faults, [], `${kind}: an honest report was counted`);
  }
});
