/**
 * What the complete OS layer costs and buys: a start under Landlock, a
 * request through the egress proxy (bubblewrap's relay, Landlock's port)
 * against the same request under the Deno layer alone, and the host's and a
 * neighbour plugin's throughput while a plugin burns two cores from Workers,
 * held to half a core or not held at all. Rounds alternate (A B A B); each
 * sample pairs one round of each side.
 * @module
 */

import { type Plugin, startPlugin } from "../mod.ts";
import { Fetcher } from "../plugins/fetcher/contract.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { Probe } from "../tests/hostile/plugins/probe.ts";
import { median, type Sample, type Sizes } from "./measure.ts";

const HELLO = new URL("../plugins/hello/main.ts", import.meta.url);
const FETCHER = new URL("../plugins/fetcher/main.ts", import.meta.url);
const BURNER = new URL("../tests/hostile/plugins/t26_cpu_burn.ts", import.meta.url);

/** A sample with the spread of its paired ratios. */
export interface PairedSample extends Sample {
  /** Lowest and highest plugbox ÷ floor over the rounds. */
  range: [number, number];
  /** plugbox ÷ floor, round by round. */
  ratios: number[];
}

function paired(plugbox: number[], floor: number[]): PairedSample {
  const ratios = plugbox.map((p, i) => p / floor[i]);
  return {
    plugbox: median(plugbox),
    floor: median(floor),
    range: [Math.min(...ratios), Math.max(...ratios)],
    ratios,
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Start to first call under Landlock (floor: the Deno layer), alternating. */
export async function landlockStart(sizes: Sizes): Promise<PairedSample> {
  const times = { landlock: [] as number[], deno: [] as number[] };
  for (let i = 0; i < sizes.starts; i++) {
    for (const isolation of ["deno", "landlock"] as const) {
      let plugin!: Plugin;
      times[isolation].push(
        await timed(async () => {
          plugin = await startPlugin(HELLO, { contracts: [Greeter], isolation });
          await plugin.api(Greeter).sayHello("a");
        }),
      );
      await plugin.close();
    }
  }
  return paired(times.landlock, times.deno);
}

/**
 * One plain http request by a plugin's `fetch` to a server on 127.0.0.1,
 * through the egress proxy (bubblewrap: the relay and a Unix socket;
 * Landlock: a loopback port) against the Deno layer's direct connection.
 */
export async function egressOverhead(
  sizes: Sizes,
): Promise<{ relay: PairedSample; port: PairedSample }> {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const layers = ["deno", "os", "landlock"] as const;
  const plugins = await Promise.all(layers.map((isolation) =>
    startPlugin(FETCHER, {
      contracts: [Fetcher],
      isolation,
      permissions: { net: [`127.0.0.1:${server.addr.port}`] },
      unsafe: { privateNetwork: true },
    })
  ));
  try {
    const per = { deno: [] as number[], os: [] as number[], landlock: [] as number[] };
    const requests = Math.max(10, Math.floor(sizes.sequential / 10));
    for (let round = 0; round < 10; round++) {
      for (const [i, isolation] of layers.entries()) {
        const fetcher = plugins[i].api(Fetcher);
        await fetcher.fetchText(url); // the round's first request opens its connections
        per[isolation].push(
          await timed(async () => {
            for (let n = 0; n < requests; n++) await fetcher.fetchText(url);
          }) / requests,
        );
      }
    }
    return { relay: paired(per.os, per.deno), port: paired(per.landlock, per.deno) };
  } finally {
    await Promise.all(plugins.map((p) => p.close()));
  }
}

/** Calls a neighbour plugin answers in `ms`, one after another, per second. */
async function neighbourRate(neighbour: Plugin, ms: number): Promise<number> {
  const greeter = neighbour.api(Greeter);
  let calls = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await greeter.sayHello("a");
    calls++;
  }
  return calls / (ms / 1000);
}

/** Iterations per second of a CPU loop on the host's own thread, over `ms`. */
function hostRate(ms: number): number {
  let n = 0;
  let x = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) x = (x * 31 + i) | 0;
    n++;
  }
  if (x === 0.5) console.log(x); // keep the loop
  return n / (ms / 1000);
}

/** A burner (two spinning Workers) at `share` cores, or none. */
async function burner(share: number | undefined): Promise<Plugin | undefined> {
  if (share === undefined) return undefined;
  const plugin = await startPlugin(BURNER, {
    contracts: [Probe],
    isolation: "os",
    cpu: { share },
    memoryLimitMiB: 1536,
  });
  await plugin.api(Probe).attempt("burn 2");
  return plugin;
}

/**
 * The host's and a neighbour plugin's throughput while another plugin burns
 * two cores from Workers: held to half a core, or not held (share 1024);
 * the floor is the same round with no burner.
 */
export async function cpuBurn(
  sizes: Sizes,
): Promise<{ neighbour: PairedSample[]; host: PairedSample[] }> {
  const windowMs = sizes.sequential >= 1000 ? 2000 : 200;
  await using neighbour = await startPlugin(HELLO, { contracts: [Greeter], isolation: "os" });
  const conditions = [undefined, 0.5, 1024];
  const rates = conditions.map(() => ({ neighbour: [] as number[], host: [] as number[] }));
  const rounds = Math.max(1, Math.min(5, Math.floor(sizes.starts / 3)));
  for (let round = 0; round < rounds; round++) {
    for (const [i, share] of conditions.entries()) {
      const burning = await burner(share);
      try {
        rates[i].neighbour.push(await neighbourRate(neighbour, windowMs));
        rates[i].host.push(hostRate(windowMs));
      } finally {
        await burning?.close();
      }
    }
  }
  const [none, held, unheld] = rates;
  return {
    neighbour: [paired(held.neighbour, none.neighbour), paired(unheld.neighbour, none.neighbour)],
    host: [paired(held.host, none.host), paired(unheld.host, none.host)],
  };
}
