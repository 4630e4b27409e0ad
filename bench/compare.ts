/**
 * `deno run -A bench/compare.ts <other checkout> [rounds]`: plugbox's own
 * side, this checkout against another (a `git worktree` of an earlier
 * commit), each measurement in a host process of its own, in interleaved
 * rounds (A B, B A, ...), reported as after ÷ before (this checkout ÷ the
 * other): median and range, with the load average. It is how BENCHMARKS.md's
 * before-and-after tables are taken.
 *
 * ```sh
 * git worktree add /tmp/before 0bbce20
 * deno run -A bench/compare.ts /tmp/before 6
 * deno run -A bench/compare.ts /tmp/before 6 stop,memory   # only these metrics
 * ```
 * @module
 */

import { join } from "node:path";
import { loadAverage, median, runSide } from "./paired.ts";
import type { MetricName, Result } from "./side.ts";

const HERE = new URL("./side.ts", import.meta.url).pathname;

/** A row: one field of one metric, before and after. */
interface Compared {
  metric: string;
  before: number;
  after: number;
  ratio: number;
  range: [number, number];
  load: [number, number];
}

/** `rounds` interleaved rounds of `metric` on both checkouts; one row per field named. */
async function compare(
  other: string,
  metric: MetricName,
  args: unknown,
  rounds: number,
  fields: Record<string, string>,
): Promise<Compared[]> {
  const before: Result[] = [];
  const after: Result[] = [];
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    loads.push(loadAverage());
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const isAfter of order) {
      const result = await runSide("plugbox", metric, args, isAfter ? HERE : other);
      (isAfter ? after : before).push(result);
    }
  }
  return Object.entries(fields).map(([field, label]) => {
    const ratios = after.map((a, i) => a[field] / before[i][field]);
    return {
      metric: label,
      before: median(before.map((r) => r[field])),
      after: median(after.map((r) => r[field])),
      ratio: median(ratios),
      range: [Math.min(...ratios), Math.max(...ratios)],
      load: [Math.min(...loads), Math.max(...loads)],
    };
  });
}

if (import.meta.main) {
  const [checkout, roundsText = "6", onlyText] = Deno.args;
  if (!checkout) {
    throw new TypeError("usage: bench/compare.ts <other checkout> [rounds] [metric,metric...]");
  }
  const other = join(checkout, "bench", "side.ts");
  const rounds = Number(roundsText);
  const only = onlyText?.split(",");
  const wanted = (metric: MetricName) => !only || only.includes(metric);
  const rows: Compared[] = [];
  const add = async (
    metric: MetricName,
    args: unknown,
    fields: Record<string, string>,
  ) => wanted(metric) && rows.push(...await compare(other, metric, args, rounds, fields));
  await add("starts", { n: 10 }, {
    first: "first start in a host process (ms)",
    warm: "warm start to first call (ms)",
    fresh: "first start of a new plugin name (ms)",
  });
  await add("stop", { n: 10 }, { stop: "graceful stop (ms)" });
  await add("sequential", { n: 3000 }, {
    p50: "sequential round trip p50 (ms)",
    p99: "sequential round trip p99 (ms)",
  });
  await add("throughput", { n: 100_000, callers: 64 }, {
    rate: "throughput, 64 callers (calls/s)",
    cpuPerCall: "host CPU per call, 64 callers (µs)",
  });
  // Lines over 64 KiB go through the scanning Workers, one pool per host since review 132.
  await add("payloads", { sizes: [256 * 1024, 4 * 1024 * 1024], n: 8 }, {
    [`${256 * 1024}`]: "a 256 KiB argument and answer (MB/s)",
    [`${4 * 1024 * 1024}`]: "a 4 MiB argument and answer (MB/s)",
  });
  await add("memory", {}, { privateMiB: "idle private memory of one plugin (MiB)" });
  // Folders are walked a few at a time since this row was added: starts of many at once.
  await add("scale", { n: 100, rounds: 3 }, {
    start: "100 plugins started at once (ms)",
    privateMiB: "100 plugins' private memory (MiB)",
  });
  const fixed = (n: number) => n >= 100 ? n.toFixed(0) : n.toFixed(n >= 10 ? 1 : 3);
  console.log("| metric | before | after | after ÷ before [range] | load |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const range = `${r.range[0].toFixed(2)}–${r.range[1].toFixed(2)}`;
    const load = `${r.load[0].toFixed(1)}–${r.load[1].toFixed(1)}`;
    console.log(
      `| ${r.metric} | ${fixed(r.before)} | ${fixed(r.after)} | ${
        r.ratio.toFixed(2)
      } [${range}] | ${load} |`,
    );
  }
}
