// Review 85: says at the handshake that it serves the most names a handshake may list (100
// contracts, 4,096 method names of 64 characters), all of them names a contract could have.
import { answer, fromHost } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const contracts = Array.from({ length: 100 }, (_, c) => ({
  name: `c${String(c).padStart(2, "0")}${"n".repeat(61)}`,
  version: 1,
  methods: Array.from({ length: 40 }, (_, m) => `m${String(m).padStart(2, "0")}${"x".repeat(61)}`),
}));
for await (const message of fromHost()) {
  if (message.method === "$/initialize") {
    answer(message.id, { protocolVersion: 1, nonce, contracts });
  } else if (message.id !== undefined && message.method) answer(message.id, {});
}
