/**
 * T28: serves `TwoWay` (tests/fixtures/two_way_contract.ts) without the SDK,
 * to send what the SDK never does on its own:
 * - `waitOnHost`: calls the host's `waitForCancel` without linking it to the
 *   host's call, cancels that call at once (`$/cancel`), and answers with the
 *   code the host answered it with;
 * - `work`: one progress report over the host's 64 KiB cap, then `"worked"`;
 * - `double`: a `$/cancel` line of 5,000 bytes first, then `n * 2`.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
const send = (message: unknown) => writeLine(JSON.stringify(message));
// Every method is named (the host checks the whole contract); the rest are never called.
const METHODS = [
  "lookup",
  "lookupBad",
  "waitOnHost",
  "reenter",
  "double",
  "work",
  "count",
  "chunks",
  "failAt",
  "forever",
  "memory",
  "early",
  "pad",
];
/** The host's call each of this plugin's capability calls answers, by the capability call's id. */
const waiting = new Map<unknown, number>();

for await (const message of fromHost()) {
  const id = message.id as number;
  if (message.method === "$/initialize") {
    const served = [{ name: "twoWay", version: 1, methods: METHODS }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (message.method === "twoWay.waitOnHost") {
    const capability = `capability-${id}`;
    waiting.set(capability, id);
    send({ jsonrpc: "2.0", id: capability, method: "twoWay.waitForCancel", params: { args: [] } });
    send({ jsonrpc: "2.0", method: "$/cancel", params: { id: capability } });
  } else if (message.method === "twoWay.work") {
    const value = { done: 1, pad: "x".repeat(70_000) };
    send({ jsonrpc: "2.0", method: "$/progress", params: { id, value } });
    answer(id, "worked");
  } else if (message.method === "twoWay.double") {
    send({ jsonrpc: "2.0", method: "$/cancel", params: { id: 1, pad: "x".repeat(5000) } });
    answer(id, (message.params as number[])[0] * 2);
  } else if (waiting.has(message.id)) {
    const call = waiting.get(message.id)!;
    waiting.delete(message.id);
    answer(call, `answered: ${message.error?.code ?? "a result"}`);
  }
}
