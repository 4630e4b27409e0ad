// The line cap counts what a user means: a 16 MiB argument (its JSON text)
// fits the default cap, whose allowance covers the envelope; a message over
// the cap is refused with an error that names the option to raise.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { DEFAULT_MAX_LINE_BYTES, ENVELOPE_ALLOWANCE_BYTES } from "../../runner/wire/mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { rejected, testDeadline } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);
const MiB = 1024 * 1024;

Deno.test("a 16 MiB argument and its 16 MiB answer pass the default line cap", async () => {
  testDeadline(120_000);
  assert.equal(DEFAULT_MAX_LINE_BYTES, 16 * MiB + ENVELOPE_ALLOWANCE_BYTES);
  await using plugin = await startPlugin(HELLO, { contracts: [Greeter], isolation: "deno" });
  // The string's JSON text is 16 MiB, quotes included; the answer adds "hello, ".
  const big = "x".repeat(16 * MiB - 2);
  const answer = await plugin.api(Greeter, { timeout: 100_000 }).sayHello(big);
  assert.equal(answer.length, big.length + "hello, ".length);
});

Deno.test("an argument over the line cap is refused with the option's name, and the plugin lives", async () => {
  testDeadline(60_000);
  await using plugin = await startPlugin(HELLO, {
    contracts: [Greeter],
    isolation: "deno",
    maxLineBytes: 64 * 1024,
  });
  const greeter = plugin.api(Greeter);
  const error = await rejected<RangeError>(greeter.sayHello("x".repeat(64 * 1024)));
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /line cap is 65536 bytes \(option "maxLineBytes"/);
  assert.equal(await greeter.sayHello("a"), "hello, a");
});
