/**
 * What the permission audit costs when it is on: the same plugin started and
 * called with `audit: true` and without, in interleaved rounds (A B, B A,
 * ...), reported as paired ratios (median and range). Off, it costs nothing:
 * no variable, no file, no reader (tests/host/audit_test.ts holds that).
 * @module
 */

import { type ContractApi, type Plugin, startPlugin } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { median } from "./measure.ts";

const HELLO = new URL("../plugins/hello/main.ts", import.meta.url);

/** Medians of each side and the paired ratios (on ÷ off), one per round. */
export interface Paired {
  on: number;
  off: number;
  ratios: number[];
}

/** How much work the audit benchmark does. */
export interface AuditSizes {
  /** Start-to-first-call rounds. */
  starts: number;
  /** Blocks of calls per round-trip measurement. */
  blocks: number;
  /** Calls per block. */
  perBlock: number;
}

function start(audit: boolean, file: string): Promise<Plugin> {
  return startPlugin(HELLO, {
    contracts: [Greeter],
    isolation: "deno",
    audit,
    permissions: { read: [file] },
    manifest: "ignore",
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Start to first completed call, audit on and off, alternating which goes first. */
async function startCost(sizes: AuditSizes, file: string): Promise<Paired> {
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < sizes.starts; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const audit of order) {
      let plugin!: Plugin;
      const ms = await timed(async () => {
        plugin = await start(audit, file);
        await plugin.api(Greeter).sayHello("a");
      });
      await plugin.close();
      (audit ? on : off).push(ms);
    }
  }
  return { on: median(on), off: median(off), ratios: on.map((v, i) => v / off[i]) };
}

/** Round trips of `call`, in blocks alternating between the audited and the plain plugin. */
async function callCost(
  sizes: AuditSizes,
  file: string,
  call: (greeter: ContractApi<typeof Greeter>) => Promise<unknown>,
): Promise<Paired> {
  await using audited = await start(true, file);
  await using plain = await start(false, file);
  const on: number[] = [];
  const off: number[] = [];
  for (const plugin of [audited, plain]) {
    for (let i = 0; i < 100; i++) await call(plugin.api(Greeter)); // warm-up
  }
  for (let block = 0; block < sizes.blocks; block++) {
    const order = block % 2 === 0 ? [plain, audited] : [audited, plain];
    for (const plugin of order) {
      const greeter = plugin.api(Greeter);
      const times: number[] = [];
      for (let i = 0; i < sizes.perBlock; i++) times.push(await timed(() => call(greeter)));
      (plugin === audited ? on : off).push(median(times));
    }
  }
  return { on: median(on), off: median(off), ratios: on.map((v, i) => v / off[i]) };
}

/**
 * Microseconds per denied permission check inside a Deno process, with
 * Deno's audit writing each to a file and without: the cost a plugin pays
 * for its own checks while audited.
 */
async function checkCost(rounds: number, dir: string): Promise<Paired> {
  const script = "const n = 20000; const t0 = performance.now();" +
    "for (let i = 0; i < n; i++) { try { Deno.env.get('X' + (i % 7)); } catch {} }" +
    "console.log((performance.now() - t0) * 1000 / n);";
  const run = async (audit: boolean) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      env: audit ? { DENO_AUDIT_PERMISSIONS: `${dir}/checks.jsonl` } : {},
      clearEnv: true,
      stdout: "piped",
      stderr: "null",
    }).output();
    return Number(new TextDecoder().decode(out.stdout));
  };
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const audit of round % 2 === 0 ? [false, true] : [true, false]) {
      (audit ? on : off).push(await run(audit));
    }
  }
  return { on: median(on), off: median(off), ratios: on.map((v, i) => v / off[i]) };
}

/** The audit's cost on a start, a call that checks nothing, a call with one read check, and a check. */
export async function auditCost(sizes: AuditSizes): Promise<{
  start: Paired;
  noCheck: Paired;
  oneCheck: Paired;
  check: Paired;
}> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-bench-audit-" }));
  const file = `${dir}/greeting.txt`;
  await Deno.writeTextFile(file, "hello from a file\n");
  try {
    return {
      start: await startCost(sizes, file),
      noCheck: await callCost(sizes, file, (greeter) => greeter.sayHello("a")),
      oneCheck: await callCost(sizes, file, (greeter) => greeter.readGreeting(file)),
      check: await checkCost(sizes.starts, dir),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
