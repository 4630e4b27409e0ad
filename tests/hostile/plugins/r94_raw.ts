/**
 * Review 94: a plugin that sends a stream's items so that each one costs the
 * host more than its line. By mode: a window of 256 short items, each
 * written on its own and read by the host as a read of its own (`drip`).
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

for await (const message of fromHost()) {
  const { id, method, params } = message;
  const mode = String(params?.[0] ?? "");
  if (method === "$/initialize") {
    const served = [{ name: "r94", version: 1, methods: ["slow", "items"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "r94.slow" && mode === "ping") {
    answer(id, "pong");
  } else if (method === "r94.items" && mode === "drip") {
    // Past the 128 bytes a host parses at once; each written alone, a moment apart, so that the
    // host reads each as one read of its own (a 64 KiB buffer, whatever it holds).
    const pad = "x".repeat(160);
    for (let i = 0; i < 128; i++) {
      writeLine(
        `{"jsonrpc":"2.0","method":"$/item","params":{"id":${id},"value":${i},"p":"${pad}"}}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}
Deno.exit(0);
