// Review 66: a line the host answers for nothing costs it the answer too. Review 65 counted a call
// refused "overloaded", and a call cancelled while it waited for a slot, as one unit of work for
// nothing, as a blank line; each cost the host 5 to 6 µs, 140 blank lines' worth: paced at
// 120,000 to 140,000 a second (73 to 85 faults every 10 s, within the budget), they held a host
// at 0.73 of a core, 26 to 28 times the plugin's CPU, for as long as they came.
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { R66 } from "./plugins/r66_contract.ts";
import { startR66 } from "./_r66.ts";

for (const mode of ["overloaded", "requeue"]) {
  Deno.test(`r66: 3,000 calls ${mode === "requeue" ? "cancelled while they wait" : "refused overloaded"} are more than two faults' worth of work for nothing`, async () => {
    const releases: (() => void)[] = [];
    const faults: string[] = [];
    await using plugin = await startR66("r66_raw.ts", {
      // Two faults (2 x 16,384 units) end it: 3,000 lines of one unit each did not make one.
      maxFaults: 1,
      onProtocolFault: (detail) => faults.push(detail),
    }, { hold: (n) => new Promise<number>((resolve) => releases.push(() => resolve(n))) });
    try {
      const outcome = await plugin.api(R66).attempt(`burst:3000:${mode}`).then(
        (answer) => answer,
        (error) => error,
      );
      assert.ok(outcome instanceof ProtocolError, `not ended: ${outcome}; ${faults.length} faults`);
      assert.match(outcome.message, /units of lines that did nothing/);
    } finally {
      releases.forEach((release) => release());
    }
  });
}
