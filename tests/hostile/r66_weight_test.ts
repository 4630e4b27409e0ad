// Review 66: a fault weighs its line, whatever kind of line it is. Review 65 weighed blank and
// stray lines and capability calls over the cap by their size (one more per 256 KiB); a 16 MiB
// notification, cancel, stream item, progress report, response to no call, or line that is not
// JSON-RPC 2.0 still weighed one fault: 90 of them every 10 s held a host at 0.5 to 0.7 of a core,
// 12 times the plugin's CPU, for as long as they came.
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { R66 } from "./plugins/r66_contract.ts";
import { startR66 } from "./_r66.ts";
import { until } from "../_helpers.ts";

/** The attacker, with a budget of four faults. */
function attacker(onProtocolFault?: (detail: string) => void) {
  return startR66("r66_raw.ts", { maxFaults: 4, onProtocolFault });
}

const KINDS = ["notify", "cancel", "item", "progress", "response", "invalid", "nomethod"];

for (const kind of KINDS) {
  Deno.test(`r66: one 1 MiB line of kind "${kind}" weighs five faults`, async () => {
    const faults: string[] = [];
    // 1 + 4 (a fault weighs one more per 256 KiB of its line): over a budget of four.
    await using plugin = await attacker((detail) => faults.push(detail));
    const outcome = await plugin.api(R66).attempt(`onefault:${kind}:${1024 * 1024 + 1024}`).then(
      (answer) => answer,
      (error) => error,
    );
    assert.equal(faults.length, 1, faults.join("\n"));
    assert.ok(outcome instanceof ProtocolError, `not ended: ${outcome}`);
    assert.match(outcome.message, /more than 4 protocol faults/);
  });
}

// A call that takes no argument passed with a 2 MiB string as its params, and cost no fault
// (review 66): params that are not an object are a fault, weighed by the line.
Deno.test("r66: a capability call whose params are not an object is a fault, weighed by its line", async () => {
  await using plugin = await attacker();
  const outcome = await plugin.api(R66, { timeout: 30_000 }).attempt(`strparams:1049600:5`).then(
    (answer) => answer,
    (error) => error,
  );
  assert.ok(outcome instanceof ProtocolError, `not ended: ${outcome}`);
  assert.match(outcome.message, /more than 4 protocol faults .*whose "params" is not an object/);
});

// The host asked for an answer, once: one over the structure caps fails its call and weighs one
// fault, whatever its length. Weighed by its line, an honest plugin's two 16 MiB results of 8
// million members within 10 s ended it.
Deno.test("r66: an answer over the members cap to a call in flight fails that call and weighs one fault", async () => {
  const faults: string[] = [];
  await using plugin = await startR66("r66_raw.ts", {
    maxFaults: 8,
    onProtocolFault: (detail) => faults.push(detail),
  });
  for (let round = 0; round < 3; round++) {
    // 3 MB: weighed by its line it would be 12 faults, over the budget at once.
    const outcome = await plugin.api(R66).attempt("overcap:3000000").then((a) => a, (e) => e);
    assert.match(String(outcome), /broke the structure caps: message has too many members/);
  }
  assert.equal(await plugin.api(R66).double(2), 4, "it runs on");
  // Each round: the answer over the cap, and the late second answer to the same call. The last
  // round's may come after the answer above: the plugin writes it once its long write returned,
  // which may be after it answered `double` (a run under load saw five).
  await until(() => faults.length >= 6, 10_000, "the last round's late answer");
  assert.equal(faults.length, 6, faults.join("\n"));
});
