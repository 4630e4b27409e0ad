/**
 * Review 99: a plugin that takes every call and answers none (it answers
 * only the handshake and `$/ping`), so the host's calls past `maxInFlight`
 * wait in line until they are aborted or time out. No SDK: it costs the
 * host nothing but its line.
 * @module
 */

import { answer, fromHost } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

for await (const { id, method } of fromHost()) {
  if (id === undefined) continue;
  if (method === "$/initialize") {
    const served = [{ name: "bare", version: 1, methods: ["echo"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "$/ping") answer(id, {});
  // every other call is held, unanswered
}
Deno.exit(0);
