// Review 65: lines that did nothing and cost no fault, and capability calls that held the host's
// heap. Each attack is a mode of plugins/r65_raw.ts, a plugin without the SDK.
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { ProtocolError, provide, startPlugin } from "../../mod.ts";
import { R65 } from "./plugins/r65_contract.ts";
import { fixture, rejected, within } from "../_helpers.ts";
import { FanOut } from "../fixtures/fan_out_contract.ts";
import type { ContractApi } from "../../contract.ts";
import { hostile } from "./_hostile.ts";

const MiB = 1024 * 1024;

/**
 * Starts the attacker; `hold` answers only once the test releases it, whatever its signal says.
 * `capabilityTimeShare`, where given: the share paces what the waste counts (at the default, 2 MiB
 * invalid calls come a few a second, within the budget: bounded by the share, not ended).
 */
function attacker(maxFaults: number, capabilityTimeShare?: number) {
  const releases: (() => void)[] = [];
  const start = startPlugin(hostile("r65_raw.ts"), {
    contracts: [R65],
    isolation: "deno",
    stopGraceMs: 200,
    stopTermMs: 200,
    maxFaults,
    capabilityTimeShare,
    capabilities: [provide(R65, {
      hold: (n) => new Promise<number>((resolve) => releases.push(() => resolve(n))),
      holdObject: ({ n }) => new Promise<number>((resolve) => releases.push(() => resolve(n))),
      size: (s) => s.length,
      stamp: () => 1,
      note: (list) => list.length,
    })],
  });
  return { start, release: () => releases.splice(0).forEach((release) => release()) };
}

// Each flood runs 5 s unless the plugin is ended first. Before: a line of a megabyte of spaces
// was one unit (as a line of one space); a cancel of a call already cancelled, a call held and
// cancelled before it ran, and 2 MiB of `{}` beside valid arguments cost nothing; invalid
// arguments of 2 MiB were a fault each, as one of 20 bytes.
for (
  const [kind, mode, why] of [
    ["lines of a megabyte of spaces", "blank:1000000:5", /a blank line of 1000000 bytes/],
    [
      "cancels, again and again, of a capability call that goes on after its first",
      "cancels:5:60",
      /units of lines that did nothing/,
    ],
    ["calls held for a slot and cancelled before they ran", "requeue:5:discard", /units of lines/],
    ["valid calls with 2 MiB beside their arguments", "junk:2090000:5", /a member other than/],
    // 15 s, not 5: each call weighs 4 faults, so the end takes 25 in one 10 s window, and a suite
    // under a load of 300 saw the host check only 23 in 5 s (ended at once when quiet).
    ["calls with 2 MiB of invalid arguments", "invalid:2090000:15", /units of lines/],
    [
      "calls over maxCapabilityBytes, refused unparsed",
      "invalid:3000000:5",
      /a capability call of 3000\d\d\d bytes, over the host's cap of 2097152/,
    ],
  ] as const
) {
  Deno.test(`review 65: a flood of ${kind} is counted: the plugin ends as faulty`, async () => {
    // The default budget where a line weighs more than one fault; one fault elsewhere.
    const { start, release } = mode.startsWith("invalid") ? attacker(100, 1) : attacker(1);
    await using plugin = await start;
    try {
      const error = await within(
        rejected(plugin.api(R65, { timeout: 30_000 }).attempt(mode)),
        30_000,
        "the flood to end",
      );
      assert.ok(error instanceof ProtocolError, String(error));
      assert.match(error.message, /it is faulty: /);
      assert.match(error.message, why);
    } finally {
      release();
    }
  });
}

Deno.test("review 65: capability calls in progress do not keep what was sent beside their arguments", async () => {
  // 16 calls of `hold`, each with 2 MiB of `{}` in its params beside valid arguments: parsed
  // whole (44 MiB of heap each), and kept while the call waited (before: 2.7 GiB for 64).
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const { start, release } = attacker(100);
  await using plugin = await start;
  try {
    gc();
    const before = Deno.memoryUsage().heapUsed;
    const held = await plugin.api(R65, { timeout: 60_000 }).attempt("heldjunk:16:2090000");
    assert.equal(held, "held 16");
    gc();
    const grown = Deno.memoryUsage().heapUsed - before;
    assert.ok(grown < 64 * MiB, `the host's heap grew by ${(grown / MiB).toFixed(0)} MiB`);
  } finally {
    release();
  }
});

/** The honest plugin, through the SDK, with the host's default budgets. */
function honest() {
  return startPlugin(hostile("r65_honest.ts"), {
    contracts: [R65],
    isolation: "deno",
    capabilities: [provide(R65, {
      hold: (n) => n,
      holdObject: ({ n }) => n,
      size: (s) => s.length,
      stamp: () => 1,
      note: (list) => list.length,
    })],
  });
}

// Arguments the SDK's check passes and JSON changes (a Date becomes a string, undefined in an
// array null) fail the host's check: before, each was a fault, and an honest plugin was ended
// after 101 of them in 50 ms. Each is now work for nothing, by its size.
for (const kind of ["stamp", "note"]) {
  Deno.test(`review 65: an honest plugin whose ${kind} arguments do not survive JSON is told, and not ended`, async () => {
    await using plugin = await honest();
    const said = await plugin.api(R65, { timeout: 60_000 }).attempt(`${kind}:300`);
    assert.equal(said, "300 of 300 failed");
    assert.equal(await plugin.api(R65).double(2), 4, "it runs on");
    assert.equal(plugin.exitStatus, undefined);
  });
}

// Before: past 64 calls in progress the host stopped reading, its own calls' answers and pings
// unread, and a plugin with 400 slow calls at once was killed as unresponsive. Now 256 wait their
// turn, and the rest are answered "overloaded" while the host reads on.
Deno.test("review 65: calls past the host's queue are answered overloaded, and the host reads on", async () => {
  const { start, release } = attacker(100);
  await using plugin = await start;
  try {
    const said = await plugin.api(R65, { timeout: 30_000 }).attempt("overload:300");
    assert.equal(said, "refused 44: 44");
    assert.equal(await plugin.api(R65, { timeout: 5_000 }).double(21), 42, "read on meanwhile");
  } finally {
    release();
  }
});

// The SDK keeps a handler's calls within what the host takes (64 handled and 256 waiting): more
// wait in the plugin. Before, 320 at once that each called the plugin back deadlocked.
Deno.test("review 65: an honest plugin's 1,000 capability calls at once, each calling it back, all succeed", async () => {
  await using plugin = await startPlugin(fixture("fan_out.ts"), {
    contracts: [FanOut],
    isolation: "deno",
    capabilities: [provide(FanOut, { twice: (n) => late.api!.double(n), size: (s) => s.length })],
  });
  const late: { api?: ContractApi<typeof FanOut> } = { api: plugin.api(FanOut) };
  const sum = await within(late.api!.fan(1000), 60_000, "1,000 calls that call back");
  assert.equal(sum, 999 * 1000);
});

// The SDK sends progress up to the host's rate (50 a call a second) and drops the rest: before,
// a fast loop reporting every item sent them all, and the host, dropping them, ended it as faulty.
Deno.test("review 65: an honest plugin reporting progress for every item of a fast loop is not ended", async () => {
  await using plugin = await honest();
  const said = await plugin.api(R65, { timeout: 120_000 }).attempt("report:2000000:0");
  assert.equal(said, "reported 2000000");
  assert.equal(plugin.exitStatus, undefined);
});

// A fault weighs as many as the 256 KiB its line holds, plus one: one blank line of a megabyte is
// four faults, past a budget of three. Before, a hundred 16 MiB lines every 10 s, one fault each,
// held a host at 0.4 of a core for as long as they came.
Deno.test("review 65: a fault on a long line weighs by its length", async () => {
  const { start } = attacker(3);
  await using plugin = await start;
  const error = await rejected(plugin.api(R65, { timeout: 30_000 }).attempt("oneblank:1000000"));
  assert.ok(error instanceof ProtocolError, String(error));
  assert.match(error.message, /more than 3 protocol faults .*a blank line of 1000000 bytes/);
});

// A report nobody hears (no onProgress), or past 50 a second for a call that is heard, is
// dropped: work for nothing, counted, as the SDK never sends them (review 57).
for (const listened of [false, true]) {
  Deno.test(`review 65: a flood of progress reports ${listened ? "past their rate" : "nobody hears"} is counted: the plugin ends as faulty`, async () => {
    const { start, release } = attacker(1);
    await using plugin = await start;
    let heard = 0;
    const onProgress = listened ? () => heard++ : undefined;
    try {
      const attempt = plugin.api(R65, { timeout: 30_000 }).attempt.with({ onProgress });
      const error = await within(rejected(attempt("progress:5")), 30_000, "the flood to end");
      assert.ok(error instanceof ProtocolError, String(error));
      assert.match(error.message, /it is faulty: .*units of lines that did nothing/);
      if (listened) assert.ok(heard > 0, "the reports within the rate were delivered");
    } finally {
      release();
    }
  });
}
