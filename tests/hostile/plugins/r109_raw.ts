/**
 * Review 109: a plugin that answers `r109.fields(n)` with an object of an id
 * and `n` more string fields, valid for its contract: what zod's merge of an
 * intersection costs the host grows as the square of the keys. `counts(key)`
 * and `strict(key)` answer with an invalid member under `key`, words of the
 * plugin's that the host's error quotes.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

for await (const message of fromHost()) {
  const { id, method, params } = message;
  if (method === "$/initialize") {
    const served = [{ name: "r109", version: 1, methods: ["fields", "counts", "strict"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "r109.fields") {
    const fields = Array.from({ length: Number(params?.[0]) }, (_, i) => `"k${i}":"v"`);
    writeLine(`{"jsonrpc":"2.0","id":${id},"result":{"id":"a",${fields.join(",")}}}`);
  } else if (method === "r109.counts") {
    answer(id, { [String(params?.[0])]: "not a number" });
  } else if (method === "r109.strict") {
    answer(id, { a: 1, [String(params?.[0])]: 1 });
  }
}
Deno.exit(0);
