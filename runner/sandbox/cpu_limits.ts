/**
 * CPU budgets, as planned before a start: a rate (a share of one core) and a
 * total of CPU time for the process's lifetime. The rate is held by the
 * kernel where plugbox may make a CPU cgroup (cgroup v1's `cpu` controller
 * when the host may write it, as root; cgroup v2's `cpu.max` where the host's
 * own cgroup delegates it), else by the host's watchdog, which pauses the
 * plugin's processes (SIGSTOP, SIGCONT) to keep their average at the share.
 * The total is counted by the watchdog (every process of the plugin's tree)
 * and backed by `RLIMIT_CPU`.
 * @module
 */

import { join } from "node:path";

/**
 * A plugin's CPU budget.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   cpu: { share: 0.5, totalMs: 60_000 }, // half a core; one minute of CPU in all
 * });
 * ```
 */
export interface CpuLimits {
  /**
   * The share of one core the plugin's processes may use together, on
   * average (0.5 is half a core, 2 two cores).
   * @default {1}
   */
  share?: number;
  /**
   * CPU time, in ms, the plugin's processes may use in their lifetime
   * (all threads, all processes); beyond it the plugin is killed and exits
   * with reason `"cpu-limit"`. A restart starts a new budget.
   * @default {no limit}
   */
  totalMs?: number;
}

/**
 * How a start's CPU budget is held.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 * const plan = await previewStart("./plugins/hello/main.ts", { cpu: { share: 0.5 } });
 * console.log(plan.cpu.rate); // "cgroup-v1", "cgroup-v2" or "watchdog"
 * ```
 */
export interface CpuPlan {
  /** The share of one core (see {@linkcode CpuLimits.share}). */
  share: number;
  /** The lifetime total, in ms (see {@linkcode CpuLimits.totalMs}). */
  totalMs?: number;
  /** Who holds the rate: a kernel cgroup, or plugbox's watchdog. */
  rate: "cgroup-v1" | "cgroup-v2" | "watchdog";
  /** The plugin's own cgroup folder (made at launch, removed after exit). */
  cgroup?: string;
  /** RLIMIT_CPU in seconds: a kernel backstop a little past the total. */
  rlimitSeconds?: number;
}

/** The scheduler period plugbox uses for cgroup quotas, in microseconds. */
export const CPU_PERIOD_US = 100_000;

interface Controller {
  version: 1 | 2;
  /** The folder plugbox makes its cgroups in. */
  base: string;
}

function mountOf(version: 1 | 2): { mount: string; path: string } | undefined {
  let mountinfo = "";
  let own = "";
  try {
    mountinfo = Deno.readTextFileSync("/proc/self/mountinfo");
    own = Deno.readTextFileSync("/proc/self/cgroup");
  } catch {
    return undefined;
  }
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const [fstype, , superOptions] = right.split(" ");
    const mount = left.split(" ")[4];
    if (version === 2 && fstype === "cgroup2") {
      const path = /^0::(.*)$/m.exec(own)?.[1];
      if (path !== undefined) return { mount, path };
    }
    if (version === 1 && fstype === "cgroup" && superOptions.split(",").includes("cpu")) {
      const path = /^\d+:([^:]*):(.*)$/gm;
      for (const m of own.matchAll(path)) {
        if (m[1].split(",").includes("cpu")) return { mount, path: m[2] };
      }
    }
  }
  return undefined;
}

/** Can plugbox make a cgroup with a CPU quota here? Tried once, for real. */
function probe(version: 1 | 2): Controller | undefined {
  const found = mountOf(version);
  if (!found) return undefined;
  const base = version === 1
    ? join(found.mount, found.path, "plugbox")
    : join(found.mount, found.path);
  const trial = join(base, `plugbox-probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    Deno.mkdirSync(trial, { recursive: true });
    writeQuota({ version, base }, trial, 1);
    return { version, base };
  } catch {
    return undefined;
  } finally {
    try {
      Deno.removeSync(trial);
    } catch {
      // never made
    }
  }
}

let controller: Controller | null | undefined;

function findController(): Controller | undefined {
  if (controller === undefined) {
    controller = Deno.build.os === "linux" ? (probe(1) ?? probe(2) ?? null) : null;
    if (controller) sweep(controller.base);
  }
  return controller ?? undefined;
}

/** Removes cgroups left by hosts that died (empty, and older than ten minutes). */
function sweep(base: string): void {
  try {
    for (const entry of Deno.readDirSync(base)) {
      if (!entry.isDirectory || !entry.name.startsWith("plugbox-")) continue;
      const path = join(base, entry.name);
      const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? Date.now());
      if (age > 10 * 60_000) Deno.removeSync(path); // fails, harmlessly, while processes remain
    }
  } catch {
    // nothing to sweep, or one still in use
  }
}

function writeQuota(c: Controller, dir: string, share: number): void {
  const quota = Math.max(1000, Math.round(share * CPU_PERIOD_US));
  if (c.version === 1) {
    Deno.writeTextFileSync(join(dir, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
    Deno.writeTextFileSync(join(dir, "cpu.cfs_quota_us"), String(quota));
  } else {
    Deno.writeTextFileSync(join(dir, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
  }
}

function checkLimits(cpu: CpuLimits | undefined): Required<Pick<CpuLimits, "share">> & CpuLimits {
  const share = cpu?.share ?? 1;
  if (typeof share !== "number" || !(share >= 0.01 && share <= 1024)) {
    throw new TypeError(
      `Cannot start plugin: "cpu.share" must be from 0.01 to 1024 cores, got ${share}`,
    );
  }
  const total = cpu?.totalMs;
  if (total !== undefined && !(Number.isSafeInteger(total) && total >= 10 && total <= 2 ** 40)) {
    throw new TypeError(
      `Cannot start plugin: "cpu.totalMs" must be a whole number of ms from 10, got ${total}`,
    );
  }
  return { share, totalMs: total };
}

/**
 * Plans a start's CPU budget: validates it and finds who can hold the rate.
 * `canJoin`: the plugin's command can join a cgroup before it runs (the
 * prologue needs `sh`).
 */
export function planCpu(
  cpu: CpuLimits | undefined,
  id: string,
  notes: string[],
  canJoin: boolean,
): CpuPlan {
  const { share, totalMs } = checkLimits(cpu);
  const found = canJoin ? findController() : undefined;
  const plan: CpuPlan = {
    share,
    totalMs,
    rate: found ? (found.version === 1 ? "cgroup-v1" : "cgroup-v2") : "watchdog",
    cgroup: found ? join(found.base, `plugbox-${id}`) : undefined,
    rlimitSeconds: totalMs === undefined ? undefined : Math.ceil(totalMs / 1000) + 2,
  };
  notes.push(
    found
      ? `cpu: ${share} core(s) held by a cgroup (v${found.version} cpu controller)`
      : `cpu: ${share} core(s) held by plugbox's watchdog (${
        canJoin ? "no writable CPU cgroup here" : "sh was not found to join a cgroup"
      })`,
  );
  return plan;
}

/** Makes the plugin's cgroup with its quota (at launch, before the spawn). */
export function createCgroup(plan: CpuPlan): void {
  const found = findController();
  if (!plan.cgroup || !found) return;
  Deno.mkdirSync(plan.cgroup, { recursive: true });
  writeQuota(found, plan.cgroup, plan.share);
}

/** Removes the plugin's cgroup once its processes are gone; tries a few times. */
export async function removeCgroup(plan: CpuPlan): Promise<void> {
  if (!plan.cgroup) return;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await Deno.remove(plan.cgroup);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      await new Promise((resolve) => setTimeout(resolve, 20)); // the kernel still empties it
    }
  }
}
