/**
 * One side of one bench measurement, in a host process of its own:
 * `deno run -A bench/side.ts <plugbox|floor> <metric> <json args>` prints
 * one JSON object. bench/run.ts spawns the two sides alternately (A B, B A)
 * so the machine's noise hits both, and pairs their results.
 * @module
 */

import { cpuUsage } from "node:process";
import {
  fdsAndThreads,
  floorSubject,
  type Handle,
  plugboxSubject,
  privateMiB,
  type Subject,
} from "./subjects.ts";

/** What one measurement returns: named numbers. */
export type Result = Record<string, number>;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

/**
 * Start to first completed call: the first start in this host process, then
 * `n` warm starts (median), then a start with state no start has warmed.
 */
async function starts(subject: Subject, args: { n: number }): Promise<Result> {
  const once = async (fresh: boolean) => {
    let handle!: Handle;
    const ms = await timed(async () => {
      handle = await subject.start(fresh);
      await handle.call("a");
    });
    await handle.close();
    return ms;
  };
  const first = await once(false);
  const warm: number[] = [];
  for (let i = 0; i < args.n; i++) warm.push(await once(false));
  const fresh = await once(true);
  return { first, warm: percentile(warm, 0.5), fresh };
}

/** Sequential round trips after a warm-up: p50 and p99 in ms. */
async function sequential(subject: Subject, args: { n: number }): Promise<Result> {
  const handle = await subject.start();
  for (let i = 0; i < 300; i++) await handle.call("a");
  const times: number[] = [];
  for (let i = 0; i < args.n; i++) times.push(await timed(() => handle.call("a")));
  await handle.close();
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

/** `callers` concurrent callers: calls/s, host CPU per call (µs) and p99 latency (ms). */
async function throughput(subject: Subject, args: { n: number; callers: number }): Promise<Result> {
  const handle = await subject.start();
  const run = async () => {
    let left = args.n;
    const latencies: number[] = [];
    const cpu0 = cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: args.callers }, async () => {
      while (left-- > 0) {
        const t = performance.now();
        await handle.call("a");
        latencies.push(performance.now() - t);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuUsage(cpu0);
    return {
      rate: args.n / seconds,
      cpuPerCall: (cpu.user + cpu.system) / args.n,
      p99: percentile(latencies, 0.99),
    };
  };
  await run(); // warm-up
  const result = await run();
  await handle.close();
  return result;
}

/** Round trips of string arguments of each size (bytes): MB/s of argument per size. */
async function payloads(subject: Subject, args: { sizes: number[]; n: number }): Promise<Result> {
  const handle = await subject.start();
  const result: Result = {};
  for (const size of args.sizes) {
    const text = "x".repeat(size);
    if (size < 1024 * 1024) await handle.call(text); // a warm-up where it is cheap
    const times: number[] = [];
    for (let i = 0; i < args.n; i++) times.push(await timed(() => handle.call(text)));
    result[`${size}`] = size / 1e6 / (percentile(times, 0.5) / 1000);
  }
  await handle.close();
  return result;
}

/** One idle plugin after one call: private memory (MiB), fds and threads. */
async function memory(subject: Subject): Promise<Result> {
  const handle = await subject.start();
  await handle.call("a");
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the start's garbage settle
  const result = { privateMiB: await privateMiB(handle.pid), ...fdsAndThreads(handle.pid) };
  await handle.close();
  return result;
}

/** `n` plugins in one host: concurrent start (ms), total private memory (MiB), fan-out calls/s. */
async function scale(subject: Subject, args: { n: number; rounds: number }): Promise<Result> {
  let many!: Awaited<ReturnType<Subject["startMany"]>>;
  const start = await timed(async () => many = await subject.startMany(args.n));
  let total = 0;
  for (const h of many.handles) total += await privateMiB(h.pid);
  const fanOut = await timed(async () => {
    for (let r = 0; r < args.rounds; r++) await Promise.all(many.handles.map((h) => h.call("a")));
  });
  await many.close();
  return { start, privateMiB: total, rate: (args.n * args.rounds) / (fanOut / 1000) };
}

/** Graceful stop of an idle plugin after one call (ms, median). */
async function stop(subject: Subject, args: { n: number }): Promise<Result> {
  const times: number[] = [];
  for (let i = 0; i < args.n; i++) {
    const handle = await subject.start();
    await handle.call("a");
    times.push(await timed(() => handle.close()));
  }
  return { stop: percentile(times, 0.5) };
}

const METRICS = { starts, sequential, throughput, payloads, memory, scale, stop };

/** The metric names bench/run.ts may ask for. */
export type MetricName = keyof typeof METRICS;

if (import.meta.main) {
  const [side, metric, json] = Deno.args;
  const dir = await Deno.makeTempDir({ prefix: "plugbox-bench-side-" });
  try {
    const subject = side === "floor" ? floorSubject(dir) : plugboxSubject();
    // deno-lint-ignore no-explicit-any
    const measure = METRICS[metric as MetricName] as (s: Subject, a: any) => Promise<Result>;
    console.log(JSON.stringify(await measure(subject, JSON.parse(json ?? "{}"))));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
