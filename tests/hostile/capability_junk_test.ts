// Junk riding along with valid capability calls. Review 66 (left at its stop): a first "args" key
// (the parse keeps the last), or members beside the envelope's, made the host parse what it then
// dropped, with no fault (1.2 to 1.3 of its cores, 50 to 60 times the plugin's CPU). Review 69: a
// price per value dropped let a 2 MB string through as one value (11 to 15 times), and ended
// honest plugins whose contract transforms or strips what they pass. Now the scan finds those
// members, and the call is refused unparsed as a fault weighed by its line; what lies inside the
// arguments is the argument's (a schema's strips and transforms included), bounded as any
// argument is by maxCapabilityBytes.
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { R66 } from "./plugins/r66_contract.ts";
import { R69 } from "./plugins/r69_contract.ts";
import { startR66 } from "./_r66.ts";
import { startR69Honest } from "./_r69.ts";

for (
  const [kind, how, why] of [
    ['a first "args" key of 1 MiB of {}', "dup", /with "args" or "call" twice/],
    ["1 MiB of members beside the envelope's", "top", /with a member beside "jsonrpc"/],
  ] as const
) {
  Deno.test(`junk: valid capability calls with ${kind} are refused unparsed, each a fault weighed by its line`, async () => {
    const faults: string[] = [];
    await using plugin = await startR66("r66_raw.ts", {
      maxFaults: 4,
      onProtocolFault: (detail) => faults.push(detail),
    });
    const outcome = await plugin.api(R66, { timeout: 30_000 }).attempt(`junk:${1 << 20}:8:${how}`)
      .then((answer) => answer, (error) => error);
    assert.ok(outcome instanceof ProtocolError, `not ended: ${outcome}`);
    // One line of 1 MiB is five faults: over the budget of four at once.
    assert.equal(faults.length, 1, faults.join("\n"));
    assert.match(outcome.message, why);
  });
}

Deno.test("junk: an honest plugin passing records with members the contract does not name is not counted faulty", async () => {
  const faults: string[] = [];
  await using plugin = await startR66("r66_honest.ts", { onProtocolFault: (d) => faults.push(d) });
  assert.equal(await plugin.api(R66).attempt("extra:3000"), "sum 3000");
  assert.deepEqual(faults, []);
});

// An honest plugin whose contract reshapes what it passes (review 69): a list made a Set by a
// transform, 20,000 tags a call; records passed on whole with a history of 1,000 entries that the
// schema strips. Priced per value dropped, the first was ended in 0.6 s, the second within a few
// hundred calls.
for (const mode of ["distinct:200:20000", "save:3000:1000"]) {
  Deno.test(`junk: an honest plugin whose contract transforms or strips what it passes (${mode}) is not counted faulty`, async () => {
    const faults: string[] = [];
    await using plugin = await startR69Honest({ onProtocolFault: (detail) => faults.push(detail) });
    const said = await plugin.api(R69, { timeout: 60_000 }).attempt(mode);
    assert.match(said, /^(distinct 20000|saved 3000)$/);
    assert.deepEqual(faults, []);
  });
}

// Review 66, left at its stop: the SDK kept to the host's count of calls, not to the bytes its
// queue takes, and 1,300 honest calls of 512 KiB at once were refused "overloaded" until the plugin
// was ended for them. The capability here holds the calls until the plugin has written what it
// sent at once, then each time every slot is taken (or the last call came): without the SDK's
// count of bytes, the host's queue is full while the first are held.
Deno.test("junk: an honest plugin storing 200 values of 256 KiB at once gets every answer, and no fault", async () => {
  const faults: string[] = [];
  let held: (() => void)[] = [];
  let received = 0;
  let written = false;
  const release = () => {
    if (!written || (held.length < 64 && received < 200)) return;
    held.forEach((release) => release());
    held = [];
  };
  await using plugin = await startR66("r66_honest.ts", {
    onLog: (line) => {
      if (line.message !== "bulk written") return;
      written = true;
      release();
    },
    onProtocolFault: (detail) => faults.push(detail),
  }, {
    store: (_key, value) =>
      new Promise<number>((resolve) => {
        held.push(() => resolve(value.length));
        received++;
        release();
      }),
  });
  const outcome = await plugin.api(R66, { timeout: 60_000 }).attempt(`bulk:200:${256 * 1024}`)
    .then((answer) => answer, (error) => error);
  assert.equal(outcome, "stored 200");
  assert.deepEqual(faults, []);
});
