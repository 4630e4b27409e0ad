/**
 * Interleaved rounds of the two sides, each in its own host process (A B,
 * then B A, ...), and their paired ratios: median and range.
 * @module
 */

import type { MetricName, Result } from "./side.ts";

const SIDE = new URL("./side.ts", import.meta.url).pathname;

/** Both sides' results, one per round, in round order. */
export interface Rounds {
  plugbox: Result[];
  floor: Result[];
}

/** A row of the report. */
export interface Row {
  metric: string;
  unit: string;
  plugbox: number;
  floor: number;
  /** The median of the paired ratios (plugbox ÷ floor, round by round). */
  ratio: number;
  /** The smallest and largest paired ratio. */
  range: [number, number];
  target: string;
  met: boolean;
  /** The 1-minute load average when the row was measured. */
  load: number;
}

/** The 1-minute load average (0 where Linux does not tell it). */
export function loadAverage(): number {
  return Deno.build.os === "windows" ? 0 : Deno.loadavg()[0];
}

/** The median (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One measurement in a host process of its own: `script` (a checkout's bench/side.ts) run once. */
export async function runSide(
  side: "plugbox" | "floor",
  metric: MetricName,
  args: unknown,
  script: string = SIDE,
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, side, metric, JSON.stringify(args)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`bench side ${side} ${metric} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as Result;
}

/** `rounds` rounds of `metric`, the order alternating so neither side always goes first. */
export async function interleaved(
  metric: MetricName,
  args: unknown,
  rounds: number,
  beforeSide?: () => Promise<void>,
): Promise<Rounds> {
  const result: Rounds = { plugbox: [], floor: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["floor", "plugbox"] as const : ["plugbox", "floor"] as const;
    for (const side of order) {
      await beforeSide?.();
      result[side].push(await runSide(side, metric, args));
    }
  }
  return result;
}

/** The machine's available memory (`MemAvailable`), in bytes; 0 where /proc cannot tell. */
export function availableMemory(): number {
  try {
    const kib = /^MemAvailable:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Waits, at most `deadlineMs`, until the machine's available memory is back
 * within `slack` bytes of `level`: a crowd of plugins the last side ended is
 * gone from the kernel's books before the next side starts its own.
 */
export async function memoryBack(level: number, slack: number, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (availableMemory() < level - slack && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** A row from the rounds' `field`; `met` judges the medians and the median ratio. */
export function pairedRow(
  rounds: Rounds,
  field: string,
  row: {
    metric: string;
    unit: string;
    target: string;
    met?: (p: number, f: number, r: number) => boolean;
  },
): Row {
  const plugbox = median(rounds.plugbox.map((r) => r[field]));
  const floor = median(rounds.floor.map((r) => r[field]));
  const ratios = rounds.plugbox.map((r, i) => r[field] / rounds.floor[i][field]);
  const ratio = median(ratios);
  return {
    metric: row.metric,
    unit: row.unit,
    plugbox: round3(plugbox),
    floor: round3(floor),
    ratio: round3(ratio),
    range: [round3(Math.min(...ratios)), round3(Math.max(...ratios))],
    target: row.target,
    met: row.met ? row.met(plugbox, floor, ratio) : true,
    load: loadAverage(),
  };
}

/** A row comparing two values measured alike but not in pairs (`ratios` if any were paired). */
export function plainRow(
  row: { metric: string; unit: string; target: string; met?: boolean },
  plugbox: number,
  floor: number,
  ratios: number[] = [plugbox / floor],
): Row {
  return {
    metric: row.metric,
    unit: row.unit,
    plugbox: round3(plugbox),
    floor: round3(floor),
    ratio: round3(median(ratios)),
    range: [round3(Math.min(...ratios)), round3(Math.max(...ratios))],
    target: row.target,
    met: row.met ?? true,
    load: loadAverage(),
  };
}
