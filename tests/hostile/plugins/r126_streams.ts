/**
 * Review 126: a plugin that streams `r90.items` for as long as the host grants credit, every item
 * sent as soon as it is granted (mode `endless:<count>`: that many items, then the answer). Its
 * items are each within credit and valid: an honest stream's, only many.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

/** The stream in flight: its id, items still to send, and the credit granted and not used. */
let stream: { id: number; left: number; credit: number } | undefined;

/** Sends what the credit allows, in one write; answers once the last item is out. */
function pour(): void {
  if (!stream) return;
  const count = Math.min(stream.credit, stream.left);
  if (count > 0) {
    const line = `{"jsonrpc":"2.0","method":"$/item","params":{"id":${stream.id},"value":0}}\n`;
    writeLine(line.repeat(count).slice(0, -1));
    stream.credit -= count;
    stream.left -= count;
  }
  if (stream.left === 0) {
    answer(stream.id, null);
    stream = undefined;
  }
}

for await (const message of fromHost()) {
  const { id, method } = message;
  const params = message.params as unknown;
  if (method === "$/initialize") {
    const served = [{ name: "r90", version: 1, methods: ["slow", "items"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "$/credit") {
    const granted = params as { id: number; items: number };
    if (stream?.id === granted.id) stream.credit += granted.items;
    pour();
  } else if (method === "r90.items") {
    const mode = String((params as unknown[])[0]);
    stream = { id: id!, left: Number(mode.slice("endless:".length)), credit: 0 };
  } else if (id !== undefined && method) {
    answer(id, null);
  }
}
Deno.exit(0);
