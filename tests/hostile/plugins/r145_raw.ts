/**
 * Review 145: serves `r145` by hand, so that 13 reaches the host past the
 * SDK's own checks: as each method's result, as a stream's items, as a
 * progress report and as a capability's argument. Each call of `echo` is
 * answered with its argument: the plugin still answers after the rest.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const methods = [
  "refined",
  "transformed",
  "preprocessed",
  "items",
  "reports",
  "asks",
  "gives",
  "echo",
  "takes",
];
let next = 1_000;
const pending = new Map<number, number>();
for await (const message of fromHost()) {
  const { id, method, params } = message;
  const n = params?.[0];
  if (method === "$/initialize") {
    answer(id, { protocolVersion: 1, nonce, contracts: [{ name: "r145", version: 1, methods }] });
  } else if (method === "r145.items") {
    for (let i = 0; i < 3; i++) {
      writeLine(JSON.stringify({ jsonrpc: "2.0", method: "$/item", params: { id, value: n } }));
    }
    answer(id, null);
  } else if (method === "r145.reports") {
    writeLine(
      JSON.stringify({ jsonrpc: "2.0", method: "$/progress", params: { id, value: { n } } }),
    );
    answer(id, "done");
  } else if (method === "r145.asks" || method === "r145.gives") {
    const capability = method === "r145.asks" ? "r145.take" : "r145.give";
    const ask = next++;
    writeLine(
      JSON.stringify({
        jsonrpc: "2.0",
        id: ask,
        method: capability,
        params: { args: [n], call: id },
      }),
    );
    pending.set(ask, id!);
  } else if (id !== undefined && method === undefined && pending.has(id)) {
    const call = pending.get(id)!;
    pending.delete(id);
    answer(call, message.error ? `refused ${message.error.message}` : `answered ${message.result}`);
  } else if (method?.startsWith("r145.")) {
    answer(id, n);
  }
}
