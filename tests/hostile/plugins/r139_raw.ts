/**
 * Review 139: a plugin whose results fail their schema at many places at the
 * bottom of a deep value, under schemas review 135's bound did not count:
 * `union(depth, n)` and `written(depth, n)` answer `depth` nodes, one in the
 * other, the last with `n` empty tags; `depth` negative, a binary tree
 * `-depth` levels of honest nodes.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

/** A tree `depth` nodes deep whose last node has `n` empty tags. */
function chain(depth: number, n: number): string {
  const leaf = `{"name":"x","tags":[${Array(n).fill('""').join(",")}],"children":[]}`;
  return '{"name":"x","tags":[],"children":['.repeat(depth) + leaf + "]}".repeat(depth);
}

/** An honest binary tree `depth` levels deep. */
function binary(depth: number): unknown {
  const children = depth === 1 ? [] : [binary(depth - 1), binary(depth - 1)];
  return { name: "n", tags: ["a"], children };
}

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

for await (const message of fromHost()) {
  const { id, method, params } = message;
  const [depth, n] = [Number(params?.[0]), Number(params?.[1])];
  if (method === "$/initialize") {
    answer(id, {
      protocolVersion: 1,
      nonce,
      contracts: [{ name: "r139", version: 1, methods: ["union", "written"] }],
    });
  } else if (method === "r139.union" || method === "r139.written") {
    if (depth < 0) answer(id, binary(-depth));
    else writeLine(`{"jsonrpc":"2.0","id":${id},"result":${chain(depth, n)}}`);
  }
}
Deno.exit(0);
