// setTimeout fires at once for anything above 2^31 - 1 ms, for Infinity and
// for NaN: a "never time out" deadline would time out immediately. Every
// timeout plugbox accepts refuses such values with a TypeError naming it.
import assert from "node:assert/strict";
import { PluginHost, startPlugin } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { fixture } from "../_helpers.ts";

const BAD = [2 ** 31, Infinity, -1, NaN];
const bare = fixture("bare_echo.ts");

const START_OPTIONS = [
  "startTimeout",
  "callTimeout",
  "cancelGraceMs",
  "stopGraceMs",
  "stopTermMs",
  "faultWindowMs",
];
const MANAGED_OPTIONS = [
  ...START_OPTIONS,
  "restartWindowMs",
  "backoffInitialMs",
  "backoffMaxMs",
  "healthIntervalMs",
  "healthTimeoutMs",
];

Deno.test("startPlugin() refuses every timeout setTimeout cannot hold, naming the option", async () => {
  for (const option of START_OPTIONS) {
    for (const value of BAD) {
      await assert.rejects(
        startPlugin(bare, { contracts: [Bare], [option]: value }),
        (error: Error) => error instanceof TypeError && error.message.includes(`"${option}"`),
        `${option}: ${value}`,
      );
    }
  }
  await assert.rejects(
    startPlugin(bare, { contracts: [Bare], preflightTimeout: Infinity }),
    /"preflightTimeout" must be an integer/,
  );
});

Deno.test("PluginHost.start() refuses every timeout setTimeout cannot hold, naming the option", async () => {
  await using host = new PluginHost({ handleSignals: false });
  for (const option of MANAGED_OPTIONS) {
    for (const value of BAD) {
      await assert.rejects(
        host.start("bare", bare, { contracts: [Bare], [option]: value }),
        (error: Error) => error instanceof TypeError && error.message.includes(`"${option}"`),
        `${option}: ${value}`,
      );
    }
  }
  await assert.rejects(
    host.start("bare", bare, { contracts: [Bare], maxRestarts: 1.5 }),
    /"maxRestarts" must be an integer/,
  );
});

Deno.test("per-call timeouts, ping and describe refuse what setTimeout cannot hold; the largest allowed works", async () => {
  await using plugin = await startPlugin(bare, { contracts: [Bare] });
  for (const value of BAD) {
    assert.throws(() => plugin.api(Bare, { timeout: value }), /"timeout" must be/);
    await assert.rejects(plugin.call("bare.echo", [1], { timeout: value }), TypeError);
    await assert.rejects(plugin.ping(value), /"timeout" must be/);
    await assert.rejects(plugin.describe(value), /"timeout" must be/);
  }
  // A deadline 24.8 days away does not fire at once.
  assert.equal(await plugin.api(Bare, { timeout: 2 ** 31 - 1 }).echo(5), 5);
  await plugin.ping(2 ** 31 - 1);
});
