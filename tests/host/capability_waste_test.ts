// What a capability call's line held and the host dropped is priced as work for nothing, value by
// value; what the capability is given is not. Real lines, scanned and classified as the host does.
import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract } from "../../contract.ts";
import {
  CapabilityHost,
  provide,
  WASTE_PER_DROPPED_VALUE,
} from "../../runner/host/capabilities.ts";
import { classifyLine, scanJson } from "../../runner/wire/mod.ts";

const Shop = defineContract({
  name: "shop",
  version: 1,
  methods: { ping: z.function({ input: [], output: z.number() }) },
  capabilities: {
    add: z.function({
      input: [z.object({ sku: z.string(), qty: z.number().default(1) })],
      output: z.number(),
    }),
    any: z.function({ input: [z.unknown()], output: z.number() }),
    now: z.function({ input: [], output: z.number() }),
  },
});

/** The waste `line` (a capability call) is priced at, as the host handles it. */
async function priced(line: string): Promise<number> {
  let wasted = 0;
  const host = new CapabilityHost([Shop], [
    provide(Shop, { add: () => 1, any: () => 1, now: () => 1 }),
  ], {
    plugin: "p",
    callEnded: () => undefined,
    wasted: (bytes) => wasted += bytes,
  });
  const bytes = new TextEncoder().encode(line);
  const scan = scanJson(bytes, { maxDepth: 64, maxMembers: 1 << 20 });
  const found = classifyLine(bytes, scan, line);
  assert.equal(found.kind, "request");
  if (found.kind !== "request") throw new Error("unreachable");
  const { method, params, id } = found.message;
  await host.handle(method, params, {
    id,
    signal: new AbortController().signal,
    bytes: bytes.length,
    values: scan.values,
  });
  return wasted / WASTE_PER_DROPPED_VALUE;
}

const call = (method: string, params: string) =>
  `{"jsonrpc":"2.0","id":1,"method":"shop.${method}"${params ? `,"params":${params}` : ""}}`;

Deno.test("capability waste: what the capability is given is free, with or without params, a call id or defaults", async () => {
  assert.equal(await priced(call("add", '{"args":[{"sku":"a","qty":2}]}')), 0);
  assert.equal(await priced(call("add", '{"args":[{"sku":"a"}],"call":7}')), 0); // qty defaulted
  assert.equal(await priced(call("any", '{"args":[{"deep":[1,[2,{"x":null}]]}]}')), 0);
  assert.equal(await priced(call("now", "")), 0);
  assert.equal(await priced(call("now", '{"args":[]}')), 0);
});

Deno.test("capability waste: each value dropped counts, whether a duplicate key or a member the schema strips", async () => {
  // A first "args" of three values (the array's two elements and the array).
  assert.equal(await priced(call("add", '{"args":[1,2],"args":[{"sku":"a","qty":1}]}')), 3);
  // Two members zod strips, one of them holding two more values.
  assert.equal(await priced(call("add", '{"args":[{"sku":"a","qty":1,"x":0,"y":[1,2]}]}')), 4);
  // A key twice inside an argument the capability takes whole.
  assert.equal(await priced(call("any", '{"args":[{"k":[1,2,3],"k":0}]}')), 4);
  // A member beside the envelope's.
  assert.equal(await priced(`{"jsonrpc":"2.0","id":1,"method":"shop.now","junk":[1,2]}`), 3);
});
