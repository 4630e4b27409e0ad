/**
 * A warm-up for the cgroup joins of a start's prologue.
 *
 * Joining a cgroup (a write to its `cgroup.procs`) takes the kernel's one
 * global cgroup threadgroup lock for writing, under the cgroup mutex.
 * Taking it waits for an RCU grace period unless another join let go of it
 * less than about a grace period before: 5 to 15 ms on this project's
 * machine, paid by the prologue's first join on every start, between the
 * spawn and Deno's own start. The joins after it take a fraction of a
 * millisecond.
 *
 * So a launch begins one join that moves nothing just before its spawn: a
 * shell, a child of the host, writes its own pid into the host's cgroup,
 * where it already is. It waits out the grace period while the host spawns
 * the plugin and the prologue starts, and the prologue's joins then find
 * the lock quick to take. Only that throwaway shell is ever written; the
 * host's own cgroups are never touched.
 *
 * It begins after the host has made the plugin's cgroups, not earlier: a
 * `mkdir` in cgroupfs needs the same mutex, and would hold the host's event
 * loop for the rest of the grace period.
 * @module
 */

import { dirname, join } from "node:path";
import type { CpuPlan } from "./cpu_limits.ts";

/** What a warm-up came to. */
export type Warmup = "joined" | "failed" | "none";

// $1: the host's cgroup.procs. The shell writes its own pid: a join to where it already is.
const JOIN_OWN = `echo $$ > "$1"`;

let inFlight: Promise<Warmup> | undefined;

/**
 * Starts a join that moves nothing, where the plan's CPU cgroup is a v1 one
 * (its folder is `<host's cgroup>/plugbox/<name>`), and returns what it came
 * to; it never rejects, and the launch never waits for it. One at a time: a
 * join begun while one waits would share its grace period anyway.
 *
 * @example
 * ```ts ignore
 * makeCgroups(plan.cpu);
 * void warmCgroupJoins(plan.cpu); // then spawn the prologue
 * ```
 */
export function warmCgroupJoins(cpu: CpuPlan): Promise<Warmup> {
  // A v2 host is not measured here (no v2 CPU controller on this project's machine): no warm-up.
  if (!cpu.sh || cpu.cgroup?.version !== 1) return Promise.resolve("none");
  if (inFlight) return inFlight;
  const procs = join(dirname(dirname(cpu.cgroup.dir)), "cgroup.procs");
  let warmup: Promise<Warmup>;
  try {
    // No pipes: the shell prints nothing worth reading, and each pipe costs the host's loop.
    const child = new Deno.Command(cpu.sh, {
      args: ["-c", JOIN_OWN, "plugbox", procs],
      env: { PATH: "/usr/bin:/bin" },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // A shell that cannot take the lock in 2 s (a frozen host cgroup) is killed, not waited for.
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // it has just exited
      }
    }, 2000);
    warmup = child.status.then((status): Warmup => status.success ? "joined" : "failed")
      .finally(() => {
        clearTimeout(timer);
        if (inFlight === warmup) inFlight = undefined;
      });
  } catch {
    return Promise.resolve("failed"); // no shell, or no --allow-run: the prologue says so
  }
  inFlight = warmup;
  return warmup;
}
