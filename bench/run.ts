/**
 * `deno task bench [--json] [--quick]`: plugbox against the framework-free
 * floor, each side in a host process of its own, in interleaved rounds
 * (A B, B A, ...), reported as paired ratios (median and range) with the
 * load average; then go-plugin and the pipe limit where the machine can
 * build them, and the rows that compare plugbox with itself (flood, OS
 * layer, zod, audit). `--json` prints one object per row; `--quick` runs
 * every row once, one round a side with small counts (CI uses it only to
 * prove the benchmark works: its figures are not measurements).
 * @module
 */

import { join } from "node:path";
import {
  floorDenoDir,
  neighbourUnderFlood,
  osLayerCost,
  start,
  zodShareOfStart,
} from "./measure.ts";
import { PLUGIN_JS, ZOD_JS } from "../runner/sandbox/_sdk_bundle.ts";
import { auditCost, type Paired } from "./audit_cost.ts";
import { capabilityCost, type FloodPaired } from "./capability_cost.ts";
import {
  availableMemory,
  interleaved,
  loadAverage,
  median,
  memoryBack,
  pairedRow,
  plainRow,
  type Row,
} from "./paired.ts";
import { buildGoPlugin, type GoFigures, goPluginRound, pipeLimit } from "./native.ts";
import { cpuBurn, egressOverhead, landlockStart, type PairedSample } from "./os_layers.ts";
import { standbyRestart } from "./standby_restart.ts";
import { twoWayCost } from "./two_way_cost.ts";

export type { Row };

const json = Deno.args.includes("--json");
const quick = Deno.args.includes("--quick");
const MiB = 1024 * 1024;
const sizes = quick
  ? {
    rounds: 1,
    starts: 2,
    sequential: 100,
    calls: 2000,
    payloads: [1024, 16 * MiB],
    payloadCalls: 1,
    scale: [10],
    fanOutRounds: 5,
    stops: 2,
    floodCalls: 2000,
    floodRounds: 1,
    pipe: 2_000,
  }
  : {
    rounds: 6,
    starts: 10,
    sequential: 3000,
    // Each round's window: 100,000 calls after as many to warm up. At 20,000 the window was 0.1 s
    // on a fast machine, where one major collection or scheduling hiccup in either process moved
    // a round by a third (paired ratios 0.53 to 0.79 in one run; 0.80 to 0.90 at 100,000).
    calls: 100_000,
    payloads: [1024, 16 * 1024, 64 * 1024, 256 * 1024, MiB, 4 * MiB, 16 * MiB],
    payloadCalls: 5,
    scale: [1, 10, 100, 1000],
    fanOutRounds: 20,
    stops: 10,
    floodCalls: 20_000,
    floodRounds: 3,
    pipe: 200_000,
  };

const began = performance.now();
function progress(text: string): void {
  const at = ((performance.now() - began) / 1000).toFixed(0);
  if (!json) console.error(`  measuring ${text}... (at ${at} s, load ${loadAverage().toFixed(2)})`);
}

const rows: Row[] = [];

// Warm-up: the SDK bundle, the preflight caches, the code caches.
await (await start("deno")).close();
await (await start("os")).close();

progress("starts");
const starts = await interleaved("starts", { n: sizes.starts }, sizes.rounds);
const warm = pairedRow(starts, "warm", {
  metric: "warm start to first completed call",
  unit: "ms",
  target: "<= floor + 8 ms",
  met: (p, f) => p <= f + 8,
});
rows.push(warm);
rows.push(pairedRow(starts, "first", {
  metric: "first start in a host process, Deno layer",
  unit: "ms",
  target: "<= warm start + 5 ms",
  met: (p) => p <= warm.plugbox + 5,
}));
rows.push(pairedRow(starts, "fresh", {
  metric: "first start of a new plugin name (floor: a new Deno dir)",
  unit: "ms",
  target: "<= warm start + 10 ms",
  met: (p) => p <= warm.plugbox + 10,
}));

progress("sequential round trips");
const seq = await interleaved("sequential", { n: sizes.sequential }, sizes.rounds);
const p50 = { metric: 'sequential round trip p50, sayHello("a")', unit: "ms", target: "<= 1.1" };
rows.push(pairedRow(seq, "p50", { ...p50, met: (_p, _f, r) => r <= 1.1 }));
rows.push(pairedRow(seq, "p99", {
  metric: "sequential round trip p99",
  unit: "ms",
  target: "<= 1.2",
  met: (_p, _f, r) => r <= 1.2,
}));

for (const callers of [64, 256]) {
  progress(`${callers} callers`);
  const t = await interleaved("throughput", { n: sizes.calls, callers }, sizes.rounds);
  rows.push(pairedRow(t, "rate", {
    metric: `throughput, ${callers} concurrent callers`,
    unit: "calls/s",
    target: ">= 0.8",
    met: (_p, _f, r) => r >= 0.8,
  }));
  rows.push(pairedRow(t, "cpuPerCall", {
    metric: `host CPU per call, ${callers} callers`,
    unit: "µs",
    target: callers === 64 ? "<= 1.3" : "(reported)",
    met: (_p, _f, r) => callers !== 64 || r <= 1.3,
  }));
  rows.push(pairedRow(t, "p99", {
    metric: `  p99 latency under ${callers} callers`,
    unit: "ms",
    target: "(reported)",
  }));
}

progress("payloads");
const pay = await interleaved(
  "payloads",
  { sizes: sizes.payloads, n: sizes.payloadCalls },
  sizes.rounds,
);
for (const size of sizes.payloads) {
  const label = size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`;
  rows.push(pairedRow(pay, `${size}`, {
    metric: `string argument of ${label}, round trip`,
    unit: "MB/s",
    target: "(reported)",
  }));
}

progress("idle memory");
const mem = await interleaved("memory", {}, sizes.rounds);
rows.push(pairedRow(mem, "privateMiB", {
  metric: "idle private memory of one plugin",
  unit: "MiB",
  target: "<= 1.15",
  met: (_p, _f, r) => r <= 1.15,
}));
rows.push(
  pairedRow(mem, "fds", {
    metric: "  its open file descriptors",
    unit: "fds",
    target: "(reported)",
  }),
);
rows.push(
  pairedRow(mem, "threads", { metric: "  its threads", unit: "threads", target: "(reported)" }),
);

// A crowd's memory is the kernel's to take back once its side ends: before each side of a crowd
// of 100 or more, the bench waits (up to a minute) until the machine's free memory is back to
// where it was before the crowds. One full run had the 1,000-plugin side killed by the kernel's
// OOM killer (913 plugins holding 17.7 GiB), where the same side alone held 14.4 GiB.
const memoryBefore = availableMemory();
for (const n of sizes.scale) {
  progress(`${n} plugins in one host`);
  let s: Awaited<ReturnType<typeof interleaved>>;
  try {
    const settle = n >= 100 ? () => memoryBack(memoryBefore, 1024 * MiB, 60_000) : undefined;
    s = await interleaved(
      "scale",
      { n, rounds: sizes.fanOutRounds },
      n >= 100 ? 2 : sizes.rounds,
      settle,
    );
  } catch (error) {
    // A crowd this machine cannot hold is a finding, not the end of the run: said, and skipped.
    console.error(`bench: ${n} plugins in one host failed: ${String(error).slice(0, 2000)}`);
    continue;
  }
  const scale = (field: string, metric: string, unit: string) =>
    rows.push(
      pairedRow(s, field, {
        metric: `${n} plugins in one host: ${metric}`,
        unit,
        target: "(reported)",
      }),
    );
  scale("start", "all started concurrently, each answered once", "ms");
  scale("privateMiB", "total private memory", "MiB");
  scale("rate", "fan-out calls/s (one call to each, repeated)", "calls/s");
}

progress("graceful stop");
const stops = await interleaved("stop", { n: sizes.stops }, sizes.rounds);
rows.push(
  pairedRow(stops, "stop", {
    metric: "graceful stop",
    unit: "ms",
    target: "median <= 15 ms",
    met: (p) => p <= 15,
  }),
);

progress("restart after a crash, hot standby");
const standby = await standbyRestart(
  quick ? { rounds: 1, crashes: 2 } : { rounds: sizes.rounds, crashes: 5 },
);
rows.push(plainRow(
  {
    metric: "restart after a crash to first call, hot standby on (floor: off, no backoff delay)",
    unit: "ms",
    target: "(reported)",
  },
  standby.on,
  standby.off,
  standby.ratios,
));

const notes: string[] = [];
const scratch = await Deno.makeTempDir({ prefix: "plugbox-bench-native-" });
progress("go-plugin");
const go = await buildGoPlugin(join(new URL(".", import.meta.url).pathname, "out"));
if (typeof go === "string") notes.push(go);
else {
  const figures: GoFigures[] = [];
  for (let r = 0; r < sizes.rounds; r++) {
    figures.push(await goPluginRound(go.binary, sizes.sequential));
  }
  const at = (k: keyof GoFigures) => median(figures.map((f) => f[k]));
  const vsGo = (metric: string, unit: string, ours: number, key: keyof GoFigures) =>
    rows.push(
      plainRow(
        { metric: `go-plugin: ${metric} (plugbox ÷ go-plugin)`, unit, target: "(reported)" },
        ours,
        at(key),
      ),
    );
  vsGo("start to first call", "ms", warm.plugbox, "start");
  rows.push(plainRow(
    {
      metric: "go-plugin: restart after a crash, hot standby on (plugbox ÷ go-plugin's start)",
      unit: "ms",
      target: "<= 2× go-plugin's start",
      met: standby.on <= 2 * at("start"),
    },
    standby.on,
    at("start"),
  ));
  vsGo("round trip p50", "ms", rows[3].plugbox, "p50");
  vsGo("round trip p99", "ms", rows[4].plugbox, "p99");
  vsGo("throughput, 64 callers", "calls/s", rows[5].plugbox, "rate");
  vsGo(
    "idle private memory",
    "MiB",
    mem.plugbox.length ? median(mem.plugbox.map((m) => m.privateMiB)) : 0,
    "privateMiB",
  );
}
progress("the pipe limit");
const pipe = await pipeLimit(scratch, sizes.pipe);
if (typeof pipe === "string") notes.push(pipe);
else {
  rows.push(plainRow(
    {
      metric: "pipe limit: C blocking ping-pong round trip, across CPUs (floor: one CPU)",
      unit: "µs",
      target: "(reported)",
    },
    pipe.across,
    pipe.same,
  ));
}
await Deno.remove(scratch, { recursive: true }).catch(() => {});

progress("a neighbour while another plugin floods");
const flood = await neighbourUnderFlood(sizes);
const reported = { target: "(reported)" };
rows.push(
  plainRow(
    {
      metric:
        "busy neighbour's throughput while another plugin floods 15 MiB lines (floor: no flood)",
      unit: "calls/s",
      ...reported,
    },
    flood.rate.plugbox,
    flood.rate.floor,
  ),
);
rows.push(
  plainRow(
    {
      metric: "  its p99 call latency during the flood (floor: no flood)",
      unit: "ms",
      ...reported,
    },
    flood.p99.plugbox,
    flood.p99.floor,
  ),
);

progress("capability calls' cost");
const capability = await capabilityCost(
  quick ? { rounds: 1, calls: 2_000 } : { rounds: 6, calls: 100_000 },
);
const capabilityRow = (metric: string, unit: string, paired: FloodPaired) =>
  rows.push(plainRow({ metric, unit, ...reported }, paired.plugbox, paired.floor, paired.ratios));
capabilityRow(
  "neighbour calls/s while a plugin sends 2 MiB strings to a capability, its share held at 0.25 (floor: no such plugin)",
  "calls/s",
  capability.heldRate,
);
capabilityRow("  its p99 call latency (floor: no such plugin)", "ms", capability.heldP99);
capabilityRow(
  "the same, the share not held (capabilityTimeShare 1)",
  "calls/s",
  capability.freeRate,
);
capabilityRow("  its p99 call latency (floor: no such plugin)", "ms", capability.freeP99);
rows.push(plainRow(
  {
    metric: "that plugin's capability calls answered a second, held (floor: not held)",
    unit: "calls/s",
    ...reported,
  },
  capability.flooderCalls.held,
  capability.flooderCalls.free,
));

progress("OS layer");
const os = await osLayerCost({ starts: sizes.starts, sequential: sizes.sequential });
rows.push(
  plainRow(
    {
      metric: "OS layer cost: start to first call, bwrap (floor: Deno layer)",
      unit: "ms",
      ...reported,
    },
    os.start.plugbox,
    os.start.floor,
  ),
);
rows.push(
  plainRow(
    { metric: "OS layer cost: round trip p50, bwrap (floor: Deno layer)", unit: "ms", ...reported },
    os.p50.plugbox,
    os.p50.floor,
  ),
);

progress("zod's share of a start");
const zod = await zodShareOfStart({ starts: sizes.starts });
rows.push(
  plainRow(
    {
      metric: "Deno start importing the SDK's zod (floor: an empty script)",
      unit: "ms",
      ...reported,
    },
    zod.plugbox,
    zod.floor,
    zod.ratios,
  ),
);

progress("audit cost");
const audit = await auditCost(
  quick ? { starts: 2, blocks: 4, perBlock: 50 } : { starts: 16, blocks: 20, perBlock: 300 },
);
const auditRow = (metric: string, paired: Paired, unit = "ms") =>
  rows.push(plainRow({ metric, unit, ...reported }, paired.on, paired.off, paired.ratios));
auditRow("audit on: start to first call (floor: audit off)", audit.start);
auditRow("audit on: round trip p50, no permission check (floor: off)", audit.noCheck);
auditRow("audit on: round trip p50, one read check (floor: off)", audit.oneCheck);
auditRow("audit on: one denied check inside Deno (floor: off)", audit.check, "µs");

progress("two-way contracts");
const twoWay = await twoWayCost(
  quick
    ? { rounds: 1, calls: 100, items: 5_000, chunks: 50, slowMs: 5 }
    : { rounds: 6, calls: 2000, items: 300_000, chunks: 4000, slowMs: 10 },
);
for (const { metric, unit, paired } of twoWay) {
  rows.push(
    plainRow({ metric, unit, ...reported }, paired.plugbox, paired.floor, paired.ratios),
  );
}

/** A reported row of paired rounds measured by the OS layers' bench, with its spread. */
function sampleRow(metric: string, unit: string, sample: PairedSample): Row {
  return plainRow({ metric, unit, ...reported }, sample.plugbox, sample.floor, sample.ratios);
}

progress("Landlock layer");
rows.push(sampleRow(
  "Landlock layer cost: start to first call (floor: Deno layer)",
  "ms",
  await landlockStart(sizes),
));

progress("egress proxy");
const egress = await egressOverhead(sizes);
rows.push(sampleRow(
  "egress: plain http request by fetch, through bwrap's relay and proxy (floor: Deno layer, direct)",
  "ms",
  egress.relay,
));
rows.push(sampleRow(
  "egress: the same, through Landlock's proxy port (floor: Deno layer, direct)",
  "ms",
  egress.port,
));

progress("CPU burn");
const burn = await cpuBurn(sizes);
rows.push(sampleRow(
  "neighbour calls/s while a plugin burns 2 cores held to 0.5 (floor: no burn)",
  "calls/s",
  burn.neighbour[0],
));
rows.push(
  sampleRow("  the same, the burn not held (cpu.share 1024)", "calls/s", burn.neighbour[1]),
);
rows.push(sampleRow(
  "host CPU loop while a plugin burns 2 cores held to 0.5 (floor: no burn)",
  "loops/s",
  burn.host[0],
));
rows.push(sampleRow("  the same, the burn not held (cpu.share 1024)", "loops/s", burn.host[1]));

await Deno.remove(join(floorDenoDir, ".."), { recursive: true }).catch(() => {});

if (json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  printTable(rows);
  for (const note of notes) console.log(`Note: ${note}`);
  const kib = (text: string) => (new TextEncoder().encode(text).length / 1024).toFixed(1);
  console.log(
    `\n${sizes.rounds} interleaved rounds; ratio = median of the paired ratios [range]; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores.`,
  );
  console.log(`SDK bundle: plugin.js ${kib(PLUGIN_JS)} KiB, zod.js ${kib(ZOD_JS)} KiB (one copy).`);
}

function printTable(rows: Row[]): void {
  const header = ["metric", "unit", "plugbox", "floor", "ratio [range]", "target", "met", "load"];
  const lines = rows.map((r) => [
    r.metric,
    r.unit,
    String(r.plugbox),
    String(r.floor),
    `${r.ratio} [${r.range[0]}–${r.range[1]}]`,
    r.target,
    r.met ? "yes" : "NO",
    r.load.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(format(header));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const line of lines) console.log(format(line));
}
