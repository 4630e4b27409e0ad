/**
 * `deno task bench [--json] [--quick]`: plugbox against the framework-free
 * floor, measured in the same run, with each metric's target. `--json`
 * prints one object per metric per line; `--quick` runs in seconds (CI uses
 * it only to prove the benchmark works).
 * @module
 */

import { join } from "node:path";
import {
  bigArgument,
  concurrentStarts,
  floorDenoDir,
  gracefulStop,
  idleMemory,
  median,
  neighbourUnderFlood,
  osLayerCost,
  percentile,
  type Sample,
  sequential,
  type Sizes,
  start,
  startToFirstCall,
  throughput,
  zodShareOfStart,
} from "./measure.ts";
import { PLUGIN_JS, ZOD_JS } from "../runner/sandbox/_sdk_bundle.ts";
import { auditCost, type Paired } from "./audit_cost.ts";
import { cpuBurn, egressOverhead, landlockStart, type PairedSample } from "./os_layers.ts";
import { twoWayCost } from "./two_way_cost.ts";

/** One line of the report. */
export interface Row {
  metric: string;
  unit: string;
  plugbox: number;
  floor: number;
  ratio: number;
  target: string;
  met: boolean;
}

const json = Deno.args.includes("--json");
const quick = Deno.args.includes("--quick");
const repetitions = quick ? 1 : 5;
const sizes: Sizes = quick
  ? {
    sequential: 100,
    throughputCalls: 1000,
    bigCalls: 3,
    starts: 2,
    concurrent: 5,
    stops: 2,
    floodCalls: 2000,
    floodRounds: 1,
  }
  : {
    sequential: 3000,
    throughputCalls: 20_000,
    bigCalls: 30,
    starts: 15,
    concurrent: 20,
    stops: 20,
    floodCalls: 20_000,
    floodRounds: 3,
  };

const round = (n: number) => Math.round(n * 1000) / 1000;

function row(
  metric: string,
  unit: string,
  sample: Sample,
  target: string,
  met: (s: Sample, ratio: number) => boolean,
): Row {
  const ratio = sample.plugbox / sample.floor;
  return {
    metric,
    unit,
    plugbox: round(sample.plugbox),
    floor: round(sample.floor),
    ratio: round(ratio),
    target,
    met: met(sample, ratio),
  };
}

/** The median of each side over several samples. */
const mid = (samples: Sample[]): Sample => ({
  plugbox: median(samples.map((s) => s.plugbox)),
  floor: median(samples.map((s) => s.floor)),
});

/** Runs `measure` once per repetition and keeps the median of each side. */
async function repeated<T>(measure: () => Promise<T>): Promise<T[]> {
  const samples: T[] = [];
  for (let i = 0; i < repetitions; i++) samples.push(await measure());
  return samples;
}

function progress(text: string): void {
  if (!json) console.error(`  measuring ${text}...`);
}

const reported = () => true;

/** The 1-minute load average, where Linux tells it. */
function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
  } catch {
    return "unknown";
  }
}

// Warm-up: builds the SDK bundle and the preflight cache, fills code caches.
await (await start("deno")).close();
await (await start("os")).close();

const rows: Row[] = [];

progress("start to first call");
rows.push(row(
  "start to first completed call",
  "ms",
  mid(await repeated(() => startToFirstCall(sizes, "deno"))),
  "<= floor + 25 ms",
  (s) => s.plugbox <= s.floor + 25,
));

progress("sequential round trips");
const runs = await repeated(() => sequential(sizes, "deno"));
const at = (p: number) =>
  mid(runs.map((r) => ({ plugbox: percentile(r.plugbox, p), floor: percentile(r.floor, p) })));
rows.push(
  row('sequential round trip p50, sayHello("a")', "ms", at(0.5), "<= 1.15", (_, r) => r <= 1.15),
);
rows.push(row("sequential round trip p99", "ms", at(0.99), "<= 1.5", (_, r) => r <= 1.5));

progress("throughput");
rows.push(row(
  "throughput, 64 concurrent callers",
  "calls/s",
  mid(await repeated(() => throughput(sizes))),
  ">= 0.8",
  (_, r) => r >= 0.8,
));

progress("1 MiB argument");
rows.push(row(
  "1 MiB string argument, round trip",
  "ms",
  mid(await repeated(() => bigArgument(sizes))),
  "<= 1.3",
  (_, r) => r <= 1.3,
));

progress("idle memory");
rows.push(row(
  "idle resident memory of one plugin",
  "MiB",
  mid(await repeated(idleMemory)),
  "<= floor + 20 MiB",
  (s) => s.plugbox <= s.floor + 20,
));

progress("concurrent starts");
const starts = await repeated(() => concurrentStarts(sizes));
rows.push(row(
  `${sizes.concurrent} plugins started concurrently, all ready (floor: one plugbox start)`,
  "ms",
  { plugbox: median(starts.map((s) => s.many)), floor: median(starts.map((s) => s.one)) },
  "<= 3",
  (_, r) => r <= 3,
));
rows.push(row(
  `  for reference: ${sizes.concurrent} floor processes at once (floor: one floor process)`,
  "ms",
  { plugbox: median(starts.map((s) => s.floorMany)), floor: median(starts.map((s) => s.floorOne)) },
  "(reported)",
  reported,
));

progress("graceful stop");
rows.push(row(
  "graceful stop",
  "ms",
  mid(await repeated(() => gracefulStop(sizes))),
  "median <= 15 ms",
  (s) => s.plugbox <= 15,
));

progress("a neighbour while another plugin floods");
const flood = await neighbourUnderFlood(sizes);
rows.push(row(
  "busy neighbour's throughput while another plugin floods 15 MiB lines (floor: no flood)",
  "calls/s",
  flood.rate,
  "(reported)",
  reported,
));
rows.push(row(
  "  its p99 call latency during the flood (floor: no flood)",
  "ms",
  flood.p99,
  "(reported)",
  reported,
));

progress("OS layer");
const os = await repeated(() => osLayerCost(sizes));
rows.push(row(
  "OS layer cost: start to first call, bwrap (floor: Deno layer)",
  "ms",
  mid(os.map((o) => o.start)),
  "(reported)",
  reported,
));
rows.push(row(
  "OS layer cost: round trip p50, bwrap (floor: Deno layer)",
  "ms",
  mid(os.map((o) => o.p50)),
  "(reported)",
  reported,
));

progress("zod's share of a start");
rows.push(row(
  "Deno start importing the SDK's zod (floor: an empty script)",
  "ms",
  mid(await repeated(() => zodShareOfStart(sizes))),
  "(reported)",
  reported,
));

progress("audit cost");
const loadBefore = loadAverage();
const audit = await auditCost(
  quick ? { starts: 2, blocks: 4, perBlock: 50 } : { starts: 16, blocks: 20, perBlock: 300 },
);
const pairedRow = (metric: string, paired: Paired, unit = "ms"): Row => {
  const r = [...paired.ratios].sort((a, b) => a - b);
  return {
    metric,
    unit,
    plugbox: round(paired.on),
    floor: round(paired.off),
    ratio: round(paired.on / paired.off),
    target: `(reported) paired ratio ${round(median(paired.ratios))}, range ${round(r[0])}–${
      round(r[r.length - 1])
    }`,
    met: true,
  };
};
rows.push(pairedRow("audit on: start to first call (floor: audit off)", audit.start));
rows.push(pairedRow("audit on: round trip p50, no permission check (floor: off)", audit.noCheck));
rows.push(pairedRow("audit on: round trip p50, one read check (floor: off)", audit.oneCheck));
rows.push(pairedRow("audit on: one denied check inside Deno (floor: off)", audit.check, "µs"));

progress("two-way contracts");
const twoWay = await twoWayCost(
  quick
    ? { rounds: 2, calls: 100, items: 20_000, chunks: 200, slowMs: 5 }
    : { rounds: 6, calls: 2000, items: 300_000, chunks: 4000, slowMs: 10 },
);
for (const { metric, unit, paired } of twoWay) {
  rows.push(
    pairedRow(metric, { on: paired.plugbox, off: paired.floor, ratios: paired.ratios }, unit),
  );
}
const loadAfter = loadAverage();

/** A reported row of paired rounds, with the spread of the ratios in its target column. */
function pairedSampleRow(metric: string, unit: string, sample: PairedSample): Row {
  const [low, high] = sample.range.map((r) => r.toFixed(2));
  return row(metric, unit, sample, `(reported; ratios ${low}-${high})`, reported);
}

progress("Landlock layer");
rows.push(pairedSampleRow(
  "Landlock layer cost: start to first call (floor: Deno layer)",
  "ms",
  await landlockStart(sizes),
));

progress("egress proxy");
const egress = await egressOverhead(sizes);
rows.push(pairedSampleRow(
  "egress: plain http request by fetch, through bwrap's relay and proxy (floor: Deno layer, direct)",
  "ms",
  egress.relay,
));
rows.push(pairedSampleRow(
  "egress: the same, through Landlock's proxy port (floor: Deno layer, direct)",
  "ms",
  egress.port,
));

progress("CPU burn");
const burn = await cpuBurn(sizes);
rows.push(pairedSampleRow(
  "neighbour calls/s while a plugin burns 2 cores held to 0.5 (floor: no burn)",
  "calls/s",
  burn.neighbour[0],
));
rows.push(pairedSampleRow(
  "  the same, the burn not held (cpu.share 1024)",
  "calls/s",
  burn.neighbour[1],
));
rows.push(pairedSampleRow(
  "host CPU loop while a plugin burns 2 cores held to 0.5 (floor: no burn)",
  "loops/s",
  burn.host[0],
));
rows.push(
  pairedSampleRow("  the same, the burn not held (cpu.share 1024)", "loops/s", burn.host[1]),
);

await Deno.remove(join(floorDenoDir, ".."), { recursive: true }).catch(() => {});

if (json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  const header = ["metric", "unit", "plugbox", "floor", "ratio", "target", "met"];
  const lines = rows.map((r) => [
    r.metric,
    r.unit,
    String(r.plugbox),
    String(r.floor),
    String(r.ratio),
    r.target,
    r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(format(header));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const line of lines) console.log(format(line));
  console.log(
    `\n${repetitions} repetitions, medians; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load average ${
      Deno.loadavg().join(" ")
    }.`,
  );
  const kib = (text: string) => (new TextEncoder().encode(text).length / 1024).toFixed(1);
  console.log(`SDK bundle: plugin.js ${kib(PLUGIN_JS)} KiB, zod.js ${kib(ZOD_JS)} KiB (one copy).`);
  console.log(
    `Load average (1 min) around the audit and two-way rows: ${loadBefore} before, ${loadAfter} after.`,
  );
}
