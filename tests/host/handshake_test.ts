// The handshake's answer is the plugin's: what `plugin.served` keeps of it is bounded and
// holds only names a contract could have (review 37: 200,003 contracts, a 1,000,037-character
// name and a method name with an escape, a bidi override and a newline were kept as sent).
import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract } from "../../contract.ts";
import { ProtocolError } from "../../mod.ts";
import { checkHandshake } from "../../runner/host/handshake.ts";

const Greeter = defineContract({
  name: "greeter",
  version: 1,
  methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
});
const expected = { nonce: "n", contracts: [Greeter] };
const answer = (contracts: unknown) => ({ protocolVersion: 1, nonce: "n", contracts });
const greeter = { name: "greeter", version: 1, methods: ["sayHello"] };

Deno.test("handshake: what a plugin says it serves is kept only as names a contract could have, and bounded", () => {
  assert.deepEqual(checkHandshake("p", expected, answer([greeter])), [greeter]);
  // Over the caps: refused.
  const many = Array.from({ length: 101 }, (_, i) => ({ ...greeter, name: `c${i}` }));
  const methods = ["sayHello", ...Array.from({ length: 1000 }, (_, i) => `m${i}`)];
  // And in all: 5 contracts of 1,000 names are more than `served` keeps for a plugin's life.
  const wide = Array.from({ length: 5 }, (_, i) => ({
    name: i === 0 ? "greeter" : `c${i}`,
    version: 1,
    methods: methods.slice(0, 1000),
  }));
  for (const contracts of [many, [{ ...greeter, methods }], wide]) {
    let error: unknown;
    try {
      checkHandshake("p", expected, answer(contracts));
    } catch (thrown) {
      error = thrown;
    }
    assert.ok(error instanceof ProtocolError, String(error));
    assert.match(error.message, /malformed "contracts" in the handshake answer/);
  }
  // Names no contract or method can have: left out, not kept raw (and not refused: a plugin in
  // another language may serve more than plugbox's; review 39).
  const served = checkHandshake(
    "p",
    expected,
    answer([
      { ...greeter, methods: ["sayHello", "line\nProtocolError: forged", "say-hello"] },
      { name: "x".repeat(65), version: 1, methods: [] },
      { name: "evil\x1b[2J\u202e", version: 1, methods: [] },
      { name: "acme.kv", version: 2, methods: ["get"] },
    ]),
  );
  assert.deepEqual(served, [greeter]);
});
