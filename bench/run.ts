/**
 * `deno task bench [--json] [--quick]`: plugbox against the framework-free
 * floor, measured in the same run, with each metric's target.
 * @module
 */

import { Greeter } from "../plugins/hello/contract.ts";
import {
  bigArgument,
  concurrentStarts,
  floorDenoDir,
  gracefulStop,
  idleMemory,
  median,
  percentile,
  type Sample,
  sequential,
  type Sizes,
  start,
  startToFirstCall,
  throughput,
} from "./measure.ts";

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
  ? { sequential: 100, throughputCalls: 1000, bigCalls: 3, starts: 2, concurrent: 5, stops: 2 }
  : {
    sequential: 3000,
    throughputCalls: 20_000,
    bigCalls: 30,
    starts: 15,
    concurrent: 20,
    stops: 20,
  };

function row(
  metric: string,
  unit: string,
  s: Sample,
  target: string,
  met: (s: Sample, ratio: number) => boolean,
): Row {
  const ratio = s.plugbox / s.floor;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    metric,
    unit,
    plugbox: round(s.plugbox),
    floor: round(s.floor),
    ratio: round(ratio),
    target,
    met: met(s, ratio),
  };
}

/** Runs `measure` once per repetition and keeps the median of each side. */
async function repeated(measure: () => Promise<Sample>): Promise<Sample> {
  const samples: Sample[] = [];
  for (let i = 0; i < repetitions; i++) samples.push(await measure());
  return {
    plugbox: median(samples.map((s) => s.plugbox)),
    floor: median(samples.map((s) => s.floor)),
  };
}

function progress(text: string): void {
  if (!json) console.error(`  measuring ${text}...`);
}

// Warm-up: builds the SDK bundle and the preflight cache, fills code caches.
await (await start("deno")).close();
await (await start("os")).close();

const rows: Row[] = [];

progress("start to first call");
rows.push(
  row(
    "start to first completed call",
    "ms",
    await repeated(() => startToFirstCall(sizes, "deno")),
    "<= floor + 25 ms",
    (s) => s.plugbox <= s.floor + 25,
  ),
);

progress("sequential round trips");
const p50: Sample[] = [];
const p99: Sample[] = [];
const p50os: Sample[] = [];
for (let i = 0; i < repetitions; i++) {
  const deno = await sequential(sizes, "deno");
  p50.push({ plugbox: percentile(deno.plugbox, 0.5), floor: percentile(deno.floor, 0.5) });
  p99.push({ plugbox: percentile(deno.plugbox, 0.99), floor: percentile(deno.floor, 0.99) });
  const os = await sequential(sizes, "os");
  p50os.push({ plugbox: percentile(os.plugbox, 0.5), floor: percentile(os.floor, 0.5) });
}
const mid = (xs: Sample[]): Sample => ({
  plugbox: median(xs.map((s) => s.plugbox)),
  floor: median(xs.map((s) => s.floor)),
});
rows.push(
  row('sequential round trip p50, sayHello("a")', "ms", mid(p50), "<= 1.15", (_, r) => r <= 1.15),
);
rows.push(row("sequential round trip p99", "ms", mid(p99), "<= 1.5", (_, r) => r <= 1.5));

progress("throughput");
rows.push(
  row(
    "throughput, 64 concurrent callers",
    "calls/s",
    await repeated(() => throughput(sizes)),
    ">= 0.8",
    (_, r) => r >= 0.8,
  ),
);

progress("1 MiB argument");
rows.push(
  row(
    "1 MiB string argument, round trip",
    "ms",
    await repeated(() => bigArgument(sizes)),
    "<= 1.3",
    (_, r) => r <= 1.3,
  ),
);

progress("idle memory");
rows.push(
  row(
    "idle resident memory of one plugin",
    "MiB",
    await repeated(idleMemory),
    "<= floor + 20 MiB",
    (s) => s.plugbox <= s.floor + 20,
  ),
);

progress("concurrent starts");
const starts: { many: number; one: number; floorMany: number; floorOne: number }[] = [];
for (let i = 0; i < repetitions; i++) starts.push(await concurrentStarts(sizes));
const many = median(starts.map((s) => s.many));
const one = median(starts.map((s) => s.one));
rows.push(
  row(
    `${sizes.concurrent} plugins started concurrently, all ready (floor: one plugbox start)`,
    "ms",
    { plugbox: many, floor: one },
    "<= 3",
    (_, r) => r <= 3,
  ),
);
rows.push(
  row(
    `  for reference: ${sizes.concurrent} floor processes at once (floor: one floor process)`,
    "ms",
    {
      plugbox: median(starts.map((s) => s.floorMany)),
      floor: median(starts.map((s) => s.floorOne)),
    },
    "(machine limit)",
    () => true,
  ),
);

progress("graceful stop");
rows.push(
  row(
    "graceful stop",
    "ms",
    await repeated(() => gracefulStop(sizes)),
    "median <= 15 ms",
    (s) => s.plugbox <= 15,
  ),
);

progress("OS layer");
rows.push(
  row(
    "OS layer: start to first completed call (bwrap)",
    "ms",
    await repeated(() => startToFirstCall(sizes, "os")),
    "(cost of the OS layer)",
    () => true,
  ),
);
rows.push(
  row(
    "OS layer: sequential round trip p50 (bwrap)",
    "ms",
    mid(p50os),
    "(cost of the OS layer)",
    () => true,
  ),
);

await Deno.remove(floorDenoDir, { recursive: true }).catch(() => {});
void Greeter;

if (json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  const header = ["metric", "unit", "plugbox", "floor", "ratio", "target", "met"];
  const lines = rows.map((
    r,
  ) => [
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
    `\n${repetitions} repetitions, medians; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores.`,
  );
}
