/**
 * What pinning costs: a `hostFetch` request (its name resolved once, sent
 * through its own per-request egress proxy to the checked address) against
 * a plain `fetch` of the same local server. Rounds are interleaved (A B,
 * B A, ...) and reported as paired ratios.
 * @module
 */

import { hostFetch } from "../mod.ts";
import { median } from "./measure.ts";

/** ms per request: hostFetch against a plain fetch, both to a server on 127.0.0.1. */
export async function hostFetchCost(
  sizes: { rounds: number; calls: number },
): Promise<{ plugbox: number; floor: number; ratios: number[] }> {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  // `localhost`, not a made-up name: Deno's fetch looks the URL's name up
  // itself even through a proxy (its deny-list check after resolving), and
  // a name only the bench's resolver knows went to this VM's DNS server,
  // which now and then drops a query: 5 s lost to its retry, per request.
  const url = `http://localhost:${server.addr.port}/`;
  const fetcher = hostFetch({
    allow: [`localhost:${server.addr.port}`],
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  const context = { plugin: "bench", signal: new AbortController().signal };
  const direct = `http://127.0.0.1:${server.addr.port}/`;
  const pinned = () => fetcher({ method: "GET", url }, context);
  const plain = async () => await (await fetch(direct)).text();
  const ours: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < sizes.rounds * 2; round++) {
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const isOurs of order) {
      const t0 = performance.now();
      for (let i = 0; i < sizes.calls; i++) await (isOurs ? pinned() : plain());
      (isOurs ? ours : floor).push((performance.now() - t0) / sizes.calls);
    }
  }
  return { plugbox: median(ours), floor: median(floor), ratios: ours.map((v, i) => v / floor[i]) };
}
