// Review 85: serves `probe.attempt` and describes it with a schema of 8 MiB: one description
// string, within the line cap and every structure cap.
import { answer, fromHost } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const served = [{ name: "probe", version: 1, methods: ["attempt"] }];
const input = {
  type: "array",
  prefixItems: [{ type: "string", description: "d".repeat(8 << 20) }],
};
for await (const message of fromHost()) {
  if (message.method === "$/initialize") {
    answer(message.id, { protocolVersion: 1, nonce, contracts: served });
  } else if (message.method === "$/describe") {
    const methods = [{ name: "attempt", input, output: { type: "string" } }];
    answer(message.id, { contracts: [{ name: "probe", version: 1, methods }] });
  } else if (message.id !== undefined && message.method) answer(message.id, {});
}
