// Review 91: serves `probe.attempt` and describes the most a description may hold: 100 contracts
// of 1,000 methods each, every name 64 characters, a line of about 14 MB.
import { answer, fromHost } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const served = [{ name: "probe", version: 1, methods: ["attempt"] }];
const method = (m: number) => ({
  name: `m${m}`.padEnd(64, "m"),
  input: { type: "array", prefixItems: [{ type: "string" }] },
  output: { type: "string" },
});
const contracts = Array.from({ length: 100 }, (_, c) => ({
  name: `c${c}`.padEnd(64, "c"),
  version: 1,
  methods: Array.from({ length: 1000 }, (_, m) => method(m)),
}));
for await (const message of fromHost()) {
  if (message.method === "$/initialize") {
    answer(message.id, { protocolVersion: 1, nonce, contracts: served });
  } else if (message.method === "$/describe") answer(message.id, { contracts });
  else if (message.id !== undefined && message.method) answer(message.id, {});
}
