/**
 * Review 126: a plugin that streams `r90.items` for as long as the host grants credit, every item
 * sent as soon as it is granted (mode `endless:<count>`: that many items, then the answer). Its
 * items are each within credit and valid: an honest stream's, only many.
 * @module
 */

import { answer, answerHandshake, CreditedStream, fromHost, writeLine } from "./_raw.ts";

/** The stream in flight. */
let stream: CreditedStream | undefined;

for await (const message of fromHost()) {
  const { id, method } = message;
  const params = message.params as unknown;
  if (method === "$/initialize") {
    answerHandshake(id, "r90", ["slow", "items"]);
  } else if (method === "$/credit") {
    stream?.credit(params);
  } else if (method === "r90.items") {
    const mode = String((params as unknown[])[0]);
    const item = `{"jsonrpc":"2.0","method":"$/item","params":{"id":${id},"value":0}}\n`;
    // What the credit allows, in one write.
    const pour = (n: number) => writeLine(item.repeat(n).slice(0, -1));
    stream = new CreditedStream(id!, Number(mode.slice("endless:".length)), pour);
  } else if (id !== undefined && method) {
    answer(id, null);
  }
}
Deno.exit(0);
