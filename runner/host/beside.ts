/**
 * What runs beside a plugin's process, on the host, for as long as it
 * lives: its egress proxy (net grants under an OS layer), its CPU cgroup,
 * and the CPU watchdog. Each is set up before the spawn, so the process
 * meets them from its first instruction, and taken down after it exits.
 * @module
 */

import {
  closeCgroups,
  type ClosedCgroups,
  explainHostPermission,
  killCgroupsNow,
  type LaunchPlan,
  makeCgroups,
  oomKilledNow,
} from "../sandbox/mod.ts";
import { CpuWatchdog } from "./cpu_watchdog.ts";
import type { EgressEntry } from "./egress_log.ts";
import type { EgressResolver } from "./egress_check.ts";
import { EgressProxy } from "./egress_proxy.ts";
import type { PluginProcess } from "./process.ts";

/** The start options these use. */
export interface BesideOptions {
  onEgress?: (entry: EgressEntry) => void;
  egressResolver?: EgressResolver;
}

/**
 * The host-side companions of one plugin process.
 *
 * @example
 * ```ts ignore
 * const beside = Beside.open(plan, options);
 * const process = beside.spawn(() => new PluginProcess(plan));
 * await process.status;
 * await beside.close();
 * ```
 */
export class Beside {
  #plan: LaunchPlan;
  #egress: EgressProxy | undefined;
  #watchdog: CpuWatchdog | undefined;

  private constructor(plan: LaunchPlan, egress: EgressProxy | undefined) {
    this.#plan = plan;
    this.#egress = egress;
  }

  /**
   * Opens the egress proxy and makes the cgroup, then spawns with `spawn`;
   * if anything fails, nothing is left behind.
   */
  static spawn(
    plan: LaunchPlan,
    options: BesideOptions,
    spawn: () => PluginProcess,
  ): { beside: Beside; process: PluginProcess } {
    let egress: EgressProxy | undefined;
    try {
      egress = plan.egress
        ? new EgressProxy(plan.egress, {
          plugin: plan.name,
          resolve: options.egressResolver,
          onEntry: options.onEgress,
        })
        : undefined;
    } catch (error) {
      throw explainHostPermission(error); // the host's own --allow-net or --allow-sys, named
    }
    const beside = new Beside(plan, egress);
    try {
      makeCgroups(plan.cpu); // where the host may: else its prologue makes them
      const process = spawn(); // its prologue joins its cgroups

      beside.#watch(process);
      return { beside, process };
    } catch (error) {
      beside.close();
      throw error;
    }
  }

  /** The watchdog counts CPU time for a total, and holds the rate where no cgroup does. */
  #watch(process: PluginProcess): void {
    const { totalMs, share, rate, sh, cgroup } = this.#plan.cpu;
    if (!sh || (totalMs === undefined && rate !== "watchdog")) return;
    this.#watchdog = new CpuWatchdog(process.pid, {
      sh,
      totalMs,
      share: rate === "watchdog" ? share : undefined,
      intervalMs: rate === "watchdog" ? 100 : 200,
      sandboxed: this.#plan.isolation === "os",
      usageFile: cgroup?.cpuacctDir && `${cgroup.cpuacctDir}/cpuacct.usage`,
      onExceeded: () => process.kill("cpu-limit"),
    });
  }

  /**
   * SIGKILLs what the plugin's cgroups hold, without yielding (beside the
   * process tree's kill, for exit paths that cannot await): a child that
   * left the tree is there.
   */
  killNow(): void {
    killCgroupsNow(this.#plan.cpu);
  }

  /**
   * Whether the memory cgroup's OOM killer ended a process of the plugin,
   * read without yielding (false without a memory cgroup): for
   * the first report of an exit, before {@linkcode close} reads it again;
   * `undefined` where the host cannot read it (close's shell then does).
   */
  oomKilledNow(): boolean | undefined {
    return oomKilledNow(this.#plan.cpu);
  }

  /** The egress log's entries, oldest first (empty without filtered egress). */
  egressLog(): EgressEntry[] {
    return this.#egress?.log.entries() ?? [];
  }

  /**
   * Takes everything down (after the process has exited): whether the
   * kernel's OOM killer ended a process in the plugin's memory cgroup, and
   * the cgroups a process that would not die kept.
   */
  async close(): Promise<ClosedCgroups> {
    const [cgroups] = await Promise.all([
      closeCgroups(this.#plan.cpu).catch((): ClosedCgroups => ({ oomKilled: false, left: [] })),
      this.#watchdog?.stop(),
      this.#egress?.close(),
    ]);
    return cgroups;
  }
}
