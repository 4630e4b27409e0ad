// Review 146: fairness among the plugins of one host, one of them hostile and with no grants.
// An answer is parsed and checked on the host's event loop, which every plugin shares, and its
// parse costs what its shape makes it: an object of 999,000 distinct keys (11 MiB, made once by the
// plugin and sent again for every call) held the loop 0.6 to 2 s at each answer. Answers were never
// charged (the host asked for them), so one such plugin, called as often as 20 honest ones beside
// it, cut the honest calls answered to 0.11 to 0.22 of a control's, their 99th percentile from 7 to
// 70 ms to 0.66 to 3.6 s. Now a plugin's answers are read within a share of the host's thread
// (answer_pace.ts): 0.64 to 0.67 of the control's, 28 to 46 ms. Each test failed on the code it was
// written against (ff87ccb, the second with the pacing and without its fix).
import assert from "node:assert/strict";
import { join } from "node:path";
import { type PluginEvent, PluginHost } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { testDeadline, within } from "../_helpers.ts";
import { hostile, pluginFolder } from "./_hostile.ts";

const SOURCE = await Deno.readTextFile(hostile("r146_raw.ts"));

/** r146_raw.ts in `mode`, in a folder of its own. */
function raw(mode: string) {
  const text = SOURCE.replace('const MODE: string = "honest";', `const MODE: string = "${mode}";`);
  return pluginFolder({ "main.ts": `${text}// ${crypto.randomUUID()}\n` });
}

Deno.test("r146: a plugin's costly answers leave the host's thread to the others before its next is read", async () => {
  testDeadline(90_000);
  await using bad = await raw("keys-then-cheap");
  await using good = await raw("honest");
  await using host = new PluginHost({ handleSignals: false });
  const common = { contracts: [Bare], isolation: "deno" as const, stopGraceMs: 200 };
  const hostile = await host.start("hostile", join(bad.dir, "main.ts"), common);
  const honest = (await host.start("honest", join(good.dir, "main.ts"), common)).api(Bare);
  const api = hostile.api(Bare, { timeout: 60_000 });
  const order: string[] = [];
  // The honest call is made once both costly answers were read (their calls settled): its answer
  // needs the honest plugin's turn and the host's, while the hostile plugin's next answer, written
  // with the costly ones, was in the pipe already. Two, so that their parse passes the burst the
  // share allows at once on a fast machine too.
  let honestCall: Promise<void> | undefined;
  let read = 0;
  const costly = [1, 2].map((n) =>
    api.echo(n).then(
      () => order.push("costly answered"),
      () => {
        order.push("costly read");
        if (++read === 2) {honestCall = honest.echo(2).then((value) =>
            void order.push(`honest ${value}`)
          );}
      },
    )
  );
  const cheap = api.echo(3).then((n) => void order.push(`cheap ${n}`));
  await within(Promise.all([...costly, cheap]), 60_000, "the hostile plugin's answers");
  await within(honestCall!, 30_000, "the honest call");
  assert.deepEqual(
    order,
    ["costly read", "costly read", "honest 2", "cheap 7"],
    "the answer after costly ones was read before the host's thread went to anyone else",
  );
});

// Its answers paced, a plugin's answer to a health ping waits unread behind them in its pipe: with
// the pacing alone, a plugin whose answers each took the host about a second to parse was killed
// as unresponsive (its pings missed while the host held its stdout; 2 of 2 runs), which it was not
// before. A ping missed while the host paced the plugin's reading is not counted.
Deno.test("r146: a plugin whose answers the host paces is not killed for the pings waiting behind them", async () => {
  testDeadline(120_000);
  await using bad = await raw("keys");
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
  const managed = await host.start("costly", join(bad.dir, "main.ts"), {
    contracts: [Bare],
    isolation: "deno",
    stopGraceMs: 200,
    healthIntervalMs: 50,
    healthTimeoutMs: 400,
  });
  const first = managed.current;
  const api = managed.api(Bare, { timeout: 100_000 });
  const settled = await within(
    Promise.allSettled([1, 2, 3].map((n) => api.echo(n))),
    100_000,
    "three costly answers",
  );
  const reasons = settled.map((s) =>
    s.status === "rejected" ? `${s.reason.name}: ${s.reason.message}`.slice(0, 200) : "fulfilled"
  );
  assert.deepEqual(
    reasons.map((reason) => reason.split(":")[0]),
    ["ValidationError", "ValidationError", "ValidationError"],
    `each answer was read and checked: ${reasons.join("; ")}`,
  );
  assert.deepEqual(events.filter((e) => e.type === "unresponsive"), []);
  assert.equal(managed.current, first, "the process was not replaced");
});
