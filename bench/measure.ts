/**
 * The rows that compare plugbox with itself, in one process (a flood's
 * neighbour, the OS layer, zod's share of a start), and the helpers they share.
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { defineContract } from "../contract.ts";
import { type Plugin, startPlugin } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { ensureSdk } from "../runner/sandbox/sdk.ts";

const HELLO = new URL("../plugins/hello/main.ts", import.meta.url);

/** How much work each measurement does. */
export interface Sizes {
  sequential: number;
  starts: number;
  floodCalls: number;
  floodRounds: number;
}

/** One sample of one metric: plugbox's value and the floor's. */
export interface Sample {
  plugbox: number;
  floor: number;
}

/** A per-run Deno dir for the floor, so it has a code cache like plugbox's plugins. */
export const floorDenoDir: string = join(
  Deno.makeTempDirSync({ prefix: "plugbox-floor-" }),
  "deno_dir",
);

export function start(isolation: "deno" | "os" = "deno"): Promise<Plugin> {
  return startPlugin(HELLO, { contracts: [Greeter], isolation });
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

export const median = (values: number[]): number => percentile(values, 0.5);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * The OS layer's cost: start to first call and sequential p50, bubblewrap
 * against the Deno layer alone, alternating so noise hits both. `floor`
 * holds the Deno layer's value.
 */
export async function osLayerCost(
  sizes: Pick<Sizes, "starts" | "sequential">,
): Promise<{ start: Sample; p50: Sample }> {
  const starts = { os: [] as number[], deno: [] as number[] };
  for (let i = 0; i < sizes.starts; i++) {
    for (const isolation of ["deno", "os"] as const) {
      let plugin!: Plugin;
      starts[isolation].push(
        await timed(async () => {
          plugin = await start(isolation);
          await plugin.api(Greeter).sayHello("a");
        }),
      );
      await plugin.close();
    }
  }
  await using deno = await start("deno");
  await using os = await start("os");
  const rtt = { os: [] as number[], deno: [] as number[] };
  for (const [name, plugin] of [["deno", deno], ["os", os]] as const) {
    for (let i = 0; i < 200; i++) await plugin.api(Greeter).sayHello("a");
    void name;
  }
  for (let block = 0; block < 10; block++) {
    for (const [name, plugin] of [["deno", deno], ["os", os]] as const) {
      const greeter = plugin.api(Greeter);
      for (let i = 0; i < sizes.sequential / 10; i++) {
        rtt[name].push(await timed(() => greeter.sayHello("a")));
      }
    }
  }
  return {
    start: { plugbox: median(starts.os), floor: median(starts.deno) },
    p50: { plugbox: median(rtt.os), floor: median(rtt.deno) },
  };
}

/**
 * What the one copy of zod costs a start: a bare Deno process that imports
 * the SDK's `zod.js` (as every plugin does) against one that imports
 * nothing, with a plugin's flags and its own Deno dir (so a code cache, as
 * plugins have), alternating. `floor` holds the empty script.
 */
export async function zodShareOfStart(
  sizes: Pick<Sizes, "starts">,
): Promise<Sample & { ratios: number[] }> {
  const sdk = await ensureSdk(join(floorDenoDir, "..", "sdk-cache"));
  const dir = join(floorDenoDir, "..", "zod-start");
  await Deno.mkdir(dir, { recursive: true });
  const scripts = {
    zod: join(dir, "with_zod.js"),
    empty: join(dir, "empty.js"),
  };
  await Deno.writeTextFile(scripts.zod, `import { z } from "zod";\nz.string();\n`);
  await Deno.writeTextFile(scripts.empty, "\n");
  const run = (script: string) =>
    timed(() =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--no-lock",
          "--no-remote",
          "--no-npm",
          `--import-map=${sdk.importMap}`,
          script,
        ],
        env: { DENO_DIR: join(dir, "deno_dir"), NO_COLOR: "1" },
        clearEnv: true,
        stdout: "null",
        stderr: "null",
      }).output()
    );
  await run(scripts.zod); // fills the code cache, as a plugin's first start does
  const zod: number[] = [];
  const empty: number[] = [];
  for (let i = 0; i < sizes.starts; i++) {
    zod.push(await run(scripts.zod));
    empty.push(await run(scripts.empty));
  }
  return { plugbox: median(zod), floor: median(empty), ratios: zod.map((z, i) => z / empty[i]) };
}

const Flood = defineContract({
  name: "flood",
  version: 1,
  methods: { start: z.function({ input: [], output: z.void() }) },
});

/** Calls per second and p99 latency (ms) of 64 concurrent callers on one plugin. */
export async function callRate(
  greeter: { sayHello(name: string): Promise<string> },
  calls: number,
): Promise<{ rate: number; p99: number }> {
  let left = calls;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (left-- > 0) {
      const t = performance.now();
      await greeter.sayHello("a");
      latencies.push(performance.now() - t);
    }
  }));
  return { rate: calls / ((performance.now() - t0) / 1000), p99: percentile(latencies, 0.99) };
}

/**
 * A busy neighbour while another plugin floods 15 MiB lines of nesting: its
 * throughput and p99 latency during the flood (`plugbox`) against the same
 * without it (`floor`), in alternating rounds. The flooder's fault budget
 * is raised so that the flood lasts the round (by default the host kills it
 * after 100 such lines).
 */
export async function neighbourUnderFlood(
  sizes: Sizes,
): Promise<{ rate: Sample; p99: Sample }> {
  await using neighbour = await start("deno");
  const greeter = neighbour.api(Greeter);
  await callRate(greeter, sizes.floodCalls); // warm-up
  const quiet: { rate: number; p99: number }[] = [];
  const flooded: { rate: number; p99: number }[] = [];
  for (let round = 0; round < sizes.floodRounds; round++) {
    quiet.push(await callRate(greeter, sizes.floodCalls));
    const flooder = await startPlugin(new URL("./flood_plugin.ts", import.meta.url), {
      contracts: [Flood],
      isolation: "deno",
      maxFaults: 1_000_000,
      stopGraceMs: 0,
      stopTermMs: 0,
    });
    const flooding = flooder.api(Flood, { timeout: 600_000 }).start().catch(() => {});
    // Wait until the flood is under way: the host has dropped its first line.
    await new Promise((resolve) => setTimeout(resolve, 300));
    flooded.push(await callRate(greeter, sizes.floodCalls));
    flooder.kill();
    await flooding;
    await flooder.close();
  }
  return {
    rate: { plugbox: median(flooded.map((f) => f.rate)), floor: median(quiet.map((q) => q.rate)) },
    p99: { plugbox: median(flooded.map((f) => f.p99)), floor: median(quiet.map((q) => q.p99)) },
  };
}
