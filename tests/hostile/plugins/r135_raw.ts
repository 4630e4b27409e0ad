/**
 * Review 135: a plugin whose results fail their recursive schema at many
 * places at the bottom of a deep value, where zod carries every issue up
 * through each container above it. `chain(depth, n)`: `depth` nodes, one in
 * the other, the last with `n` empty tags. `trie(depth, n)`: `depth` keys,
 * one in the other, the last with `n` keys that lead to a number. And
 * `bushy(depth, width)`: an honest tree, `width` children a node, `depth`
 * levels. `watch(ms)` reports progress every 33 ms for `ms`, each a tree 7
 * nodes deep with 21,000 empty tags at its bottom (63 KB), then answers.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

/** `inner` inside `depth` levels of `open` and `close`. */
function nest(depth: number, open: string, inner: string, close: string): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** A tree `depth` nodes deep whose last node has `n` empty tags. */
function chain(depth: number, n: number): string {
  const leaf = `{"name":"x","tags":[${Array(n).fill('""').join(",")}],"children":[]}`;
  return nest(depth, '{"name":"x","tags":[],"children":[', leaf, "]}");
}

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);

function bushy(depth: number, width: number): unknown {
  const children = depth === 0 ? [] : Array.from({ length: width }, () => bushy(depth - 1, width));
  return { name: "n", tags: ["a", "b"], children };
}

for await (const message of fromHost()) {
  const { id, method, params } = message;
  const [depth, n] = [Number(params?.[0]), Number(params?.[1])];
  const head = `{"jsonrpc":"2.0","id":${id},"result":`;
  if (method === "$/initialize") {
    const served = [{ name: "r135", version: 1, methods: ["chain", "bushy", "trie", "watch"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "r135.chain") {
    writeLine(head + chain(depth, n) + "}");
  } else if (method === "r135.trie") {
    const leaf = `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(",")}}`;
    writeLine(head + nest(depth, '{"k":', leaf, "}") + "}");
  } else if (method === "r135.watch") {
    const value = chain(7, 21_000);
    const report = `{"jsonrpc":"2.0","method":"$/progress","params":{"id":${id},"value":${value}}}`;
    const until = Date.now() + depth;
    const timer = setInterval(() => {
      if (Date.now() < until) return writeLine(report);
      clearInterval(timer);
      answer(id, "reported");
    }, 33);
  } else if (method === "r135.bushy") {
    answer(id, bushy(depth, n));
  }
}
Deno.exit(0);
