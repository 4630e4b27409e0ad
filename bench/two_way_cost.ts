/**
 * What two-way contracts cost: a call that makes one capability call
 * against a plain call, stream throughput (small items and 64 KiB chunks)
 * against an NDJSON floor streaming the same values over a bare pipe, and
 * the plugin's memory under a slow consumer against the floor's. Rounds are
 * interleaved (A B, B A, ...) and reported as paired ratios.
 * @module
 */

import { type Plugin, provide, startPlugin } from "../mod.ts";
import { TwoWay } from "../tests/fixtures/two_way_contract.ts";
import { median } from "./measure.ts";
import { hostFetchCost } from "./host_fetch_cost.ts";

const PLUGIN = new URL("../tests/fixtures/two_way.ts", import.meta.url);

/** Medians of each side and the paired ratios (plugbox ÷ floor), one per round. */
export interface TwoWayPaired {
  plugbox: number;
  floor: number;
  ratios: number[];
}

/** How much work the two-way benchmark does. */
export interface TwoWaySizes {
  rounds: number;
  calls: number;
  items: number;
  chunks: number;
  slowMs: number;
}

function start(): Promise<Plugin> {
  return startPlugin(PLUGIN, {
    contracts: [TwoWay],
    capabilities: [
      provide(TwoWay, { load: (k) => k, waitForCancel: () => {}, twice: (n) => n, pad: () => "" }),
    ],
    isolation: "deno",
  });
}

// The floor: a bare Deno process that writes `count` NDJSON lines of the same values, then exits.
const FLOOR = `
const [kind, count, size] = Deno.args.map(Number);
const encoder = new TextEncoder();
const chunk = "x".repeat(size);
let batch = "";
for (let i = 0; i < count; i++) {
  batch += JSON.stringify({ id: 1, value: kind === 0 ? i : chunk }) + "\\n";
  if (batch.length >= 65536 || i === count - 1) {
    const bytes = encoder.encode(batch);
    for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
    batch = "";
  }
}
`;

/** Reads the floor's lines, parsing each, with an optional pause per line; returns its pid. */
async function floorStream(
  kind: 0 | 1,
  count: number,
  size: number,
  onLine: (pid: number) => Promise<void> | void = () => {},
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", FLOOR, String(kind), String(count), String(size)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const decoder = new TextDecoder();
  let buffered = "";
  let lines = 0;
  for await (const bytes of child.stdout) {
    buffered += decoder.decode(bytes, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      lines++;
      await onLine(child.pid);
    }
  }
  await child.status;
  if (lines !== count) throw new Error(`the floor streamed ${lines} of ${count} lines`);
  return child.pid;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Resident memory in MiB, or undefined once the process is gone (a floor child ends with its last line). */
function rssMiB(pid: number): number | undefined {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const kib = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) / 1024;
}

function paired(a: number[], b: number[]): TwoWayPaired {
  return { plugbox: median(a), floor: median(b), ratios: a.map((v, i) => v / b[i]) };
}

/** ms per call: a call whose handler makes one capability call, against a plain call. */
async function capabilityCost(plugin: Plugin, sizes: TwoWaySizes): Promise<TwoWayPaired> {
  const api = plugin.api(TwoWay);
  for (let i = 0; i < 100; i++) await api.lookup("a"), await api.double(1);
  const withCapability: number[] = [];
  const plain: number[] = [];
  for (let round = 0; round < sizes.rounds * 2; round++) {
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const capability of order) {
      const ms = await timed(async () => {
        for (let i = 0; i < sizes.calls; i++) {
          await (capability ? api.lookup("a") : api.double(1));
        }
      });
      (capability ? withCapability : plain).push(ms / sizes.calls);
    }
  }
  return paired(withCapability, plain);
}

/** Items per second through a stream, against the floor streaming the same values. */
async function streamRate(
  plugin: Plugin,
  sizes: TwoWaySizes,
  kind: 0 | 1,
): Promise<TwoWayPaired> {
  const api = plugin.api(TwoWay);
  const count = kind === 0 ? sizes.items : sizes.chunks;
  const ours: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < sizes.rounds; round++) {
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const plugbox of order) {
      const ms = await timed(async () => {
        if (!plugbox) return await floorStream(kind, count, 65536);
        const stream = kind === 0 ? api.count(count) : api.chunks(count, 65536);
        let n = 0;
        for await (const _ of stream) n++;
        if (n !== count) throw new Error(`streamed ${n} of ${count}`);
      });
      (plugbox ? ours : floor).push(count / (ms / 1000));
    }
  }
  return paired(ours, floor);
}

/** Peak RSS growth (MiB) of the producer while the consumer takes a 64 KiB chunk per `slowMs`. */
async function slowConsumerMemory(plugin: Plugin, sizes: TwoWaySizes): Promise<TwoWayPaired> {
  const api = plugin.api(TwoWay);
  const pause = () => new Promise((resolve) => setTimeout(resolve, sizes.slowMs));
  const ours: number[] = [];
  const floor: number[] = [];
  const pid = plugin.pid;
  for (let round = 0; round < sizes.rounds; round++) {
    const before = rssMiB(pid) ?? 0;
    let peak = 0;
    for await (const _ of api.chunks(Math.min(200, sizes.chunks), 65536)) {
      await pause();
      peak = Math.max(peak, (rssMiB(pid) ?? before) - before);
    }
    ours.push(Math.max(peak, 0.01));
    let floorBefore: number | undefined;
    let floorPeak = 0;
    await floorStream(1, Math.min(200, sizes.chunks), 65536, async (floorPid) => {
      floorBefore ??= rssMiB(floorPid);
      await pause();
      const now = rssMiB(floorPid);
      if (floorBefore !== undefined && now !== undefined) {
        floorPeak = Math.max(floorPeak, now - floorBefore);
      }
    });
    floor.push(Math.max(floorPeak, 0.01));
  }
  return paired(ours, floor);
}

function inMegabytes(rate: TwoWayPaired): TwoWayPaired {
  const mb = 65536 / 1e6;
  return { plugbox: rate.plugbox * mb, floor: rate.floor * mb, ratios: rate.ratios };
}

/** Every two-way measurement, labelled for BENCHMARKS.md. */
export async function twoWayCost(
  sizes: TwoWaySizes,
): Promise<{ metric: string; unit: string; paired: TwoWayPaired }[]> {
  await using plugin = await start();
  return [
    {
      metric: "call making one capability call (floor: plain call)",
      unit: "ms",
      paired: await capabilityCost(plugin, sizes),
    },
    {
      metric: "stream of small items (floor: NDJSON over a pipe)",
      unit: "items/s",
      paired: await streamRate(plugin, sizes, 0),
    },
    {
      metric: "stream of 64 KiB chunks (floor: NDJSON over a pipe)",
      unit: "MB/s",
      paired: inMegabytes(await streamRate(plugin, sizes, 1)),
    },
    {
      metric: "producer RSS growth, slow consumer (floor: NDJSON, pipe backpressure)",
      unit: "MiB",
      paired: await slowConsumerMemory(plugin, sizes),
    },
    {
      metric: "hostFetch request, pinned through its proxy (floor: plain fetch)",
      unit: "ms",
      paired: await hostFetchCost({ rounds: sizes.rounds, calls: Math.min(sizes.calls, 500) }),
    },
  ];
}
