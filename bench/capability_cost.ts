/**
 * What another plugin's capability calls cost a busy neighbour in the same
 * host: its calls/s and p99 (64 callers) while a plugin sends valid 2 MiB
 * arguments as fast as the host answers them, with the host's thread share
 * for capability calls held (`capabilityTimeShare`, the default 0.25) and
 * not held (1), against no such plugin. Rounds interleave the three
 * (quiet, held, not held, then not held, held, quiet, ...), each reported
 * as paired ratios against the quiet one of its round.
 * @module
 */

import { type Plugin, provide, startPlugin } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { CapFlood } from "./capability_flood/contract.ts";
import { callRate, median, start } from "./measure.ts";

/** Medians of each side and the paired ratios (flooded ÷ quiet), one per round. */
export interface FloodPaired {
  plugbox: number;
  floor: number;
  ratios: number[];
}

/** The neighbour's rate and p99 with the share held and not held, each against quiet rounds. */
export interface CapabilityCost {
  heldRate: FloodPaired;
  heldP99: FloodPaired;
  freeRate: FloodPaired;
  freeP99: FloodPaired;
  /** The flooder's calls answered a second, held and not held (medians). */
  flooderCalls: { held: number; free: number };
}

/** The flooder's calls the host answered, and when the first was. */
interface Taken {
  count: number;
  firstAt: number;
}

async function flooder(share: number, taken: Taken): Promise<Plugin> {
  const take = (value: string) => {
    if (taken.count++ === 0) taken.firstAt = performance.now();
    return value.length;
  };
  return await startPlugin(new URL("./capability_flood/main.ts", import.meta.url), {
    contracts: [CapFlood],
    capabilities: [provide(CapFlood, { take })],
    isolation: "deno",
    capabilityTimeShare: share,
    stopGraceMs: 0,
    stopTermMs: 0,
  });
}

/** The neighbour's calls while a flooder with `share` runs, and the flooder's calls answered a second. */
async function flooded(
  greeter: { sayHello(name: string): Promise<string> },
  calls: number,
  share: number,
): Promise<{ rate: number; p99: number; taken: number }> {
  const taken = { count: 0, firstAt: 0 };
  const plugin = await flooder(share, taken);
  const running = plugin.api(CapFlood, { timeout: 600_000 }).run(8).catch(() => 0);
  // Under way once the host has answered its first calls: an event, not a fixed wait.
  const deadline = Date.now() + 30_000;
  while (taken.count < 8) {
    if (Date.now() > deadline) throw new Error("the flooder's calls never reached the host");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const measured = await callRate(greeter, calls);
  // From its first answer on: the neighbour's window alone may be shorter than one of its calls.
  const rate = taken.count / ((performance.now() - taken.firstAt) / 1000);
  plugin.kill();
  await running;
  await plugin.close();
  return { ...measured, taken: rate };
}

const paired = (on: number[], off: number[]): FloodPaired => ({
  plugbox: median(on),
  floor: median(off),
  ratios: on.map((v, i) => v / off[i]),
});

/** Runs `rounds` interleaved rounds of `calls` neighbour calls per side. */
export async function capabilityCost(
  { rounds, calls }: { rounds: number; calls: number },
): Promise<CapabilityCost> {
  await using neighbour = await start("deno");
  const greeter = neighbour.api(Greeter);
  await callRate(greeter, calls); // warm-up
  const sides = { quiet: [] as Awaited<ReturnType<typeof flooded>>[] };
  const held: typeof sides.quiet = [];
  const free: typeof sides.quiet = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["quiet", "held", "free"] : ["free", "held", "quiet"];
    for (const side of order) {
      if (side === "quiet") sides.quiet.push({ ...await callRate(greeter, calls), taken: 0 });
      else if (side === "held") held.push(await flooded(greeter, calls, 0.25));
      else free.push(await flooded(greeter, calls, 1));
    }
  }
  const rate = (list: typeof held) => list.map((s) => s.rate);
  const p99 = (list: typeof held) => list.map((s) => s.p99);
  return {
    heldRate: paired(rate(held), rate(sides.quiet)),
    heldP99: paired(p99(held), p99(sides.quiet)),
    freeRate: paired(rate(free), rate(sides.quiet)),
    freeP99: paired(p99(free), p99(sides.quiet)),
    flooderCalls: {
      held: median(held.map((s) => s.taken)),
      free: median(free.map((s) => s.taken)),
    },
  };
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 4);
  const calls = Number(Deno.args[1] ?? 20_000);
  console.log(`load ${Deno.loadavg()[0]}`);
  console.log(JSON.stringify(await capabilityCost({ rounds, calls }), null, 1));
  console.log(`load ${Deno.loadavg()[0]}`);
}
