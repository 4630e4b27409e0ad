/**
 * T28: serves the test contract "bulk" without the SDK, sending arrays of
 * 1,000 wrong elements where numbers are expected: as `list`'s result, and
 * as the argument of its call to the host's `take` (answering `callTake` with
 * the code and issue count the host answered that call with).
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
const WRONG = Array.from({ length: 1000 }, (_, i) => `not a number ${i}`);
let caller: number | undefined;

for await (const message of fromHost()) {
  if (message.method === "$/initialize") {
    const served = [{ name: "bulk", version: 1, methods: ["list", "callTake"] }];
    answer(message.id, { protocolVersion: 1, nonce, contracts: served });
  } else if (message.method === "bulk.list") {
    answer(message.id, WRONG);
  } else if (message.method === "bulk.callTake") {
    caller = message.id;
    const take = { jsonrpc: "2.0", id: "take", method: "bulk.take", params: { args: [WRONG] } };
    writeLine(JSON.stringify(take));
  } else if ((message.id as unknown) === "take") {
    const { code, data } = message.error as unknown as {
      code: number;
      data: { issues: unknown[] };
    };
    answer(caller, `${code} ${data.issues.length}`);
  }
}
