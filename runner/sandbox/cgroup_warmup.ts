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
 * shell, a child of the host, reads its own CPU cgroup from
 * `/proc/self/cgroup` and writes its pid there, where it already is. It
 * waits out the grace period while the host spawns the plugin and the
 * prologue starts, and the prologue's joins then find the lock quick to
 * take. Only that throwaway shell is ever written, into its own cgroup:
 * the host's, a plugin's or anyone else's membership never changes.
 *
 * It begins after the host has made the plugin's cgroups, not earlier: a
 * `mkdir` in cgroupfs needs the same mutex, and would hold the host's event
 * loop for the rest of the grace period.
 * @module
 */

import type { CpuPlan } from "./cpu_limits.ts";

/** What a warm-up came to. */
export type Warmup = "joined" | "failed" | "none";

/**
 * The warm-up's script. $1: the v1 CPU hierarchy's mount point; the shell
 * joins the cgroup `/proc/self/cgroup` says it is in (the host's now, even
 * if the host moved since the probe). Whole lines are read (a field split
 * on ":" would drop a name's trailing colon); a path outside the cgroup
 * namespace's root (`/..`) is not written, nor anything but an existing
 * `cgroup.procs`. Its status says whether it joined.
 */
export const JOIN_OWN = `s=1
while IFS= read -r l; do
  n=\${l#*:}; p=\${n#*:}; n=\${n%%:*}
  case ",$n," in *,cpu,*)
    case $p in */..|*/../*) ;; *) f="$1$p/cgroup.procs"; [ -f "$f" ] && echo $$ > "$f" && s=0 ;; esac
    break ;;
  esac
done < /proc/self/cgroup
[ "$s" = 0 ]`;

let inFlight: Promise<Warmup> | undefined;
/** Set once a warm-up failed: a host whose shell cannot join its own cgroup stops trying. */
let failedOnce = false;

/**
 * Starts a join that moves nothing, where the plan's CPU cgroup is a v1 one,
 * and returns what it came to; it never rejects, and the launch never waits
 * for it. One at a time: a join begun while one waits would share its grace
 * period anyway. After one fails (not merely times out), none is tried again
 * in this host process.
 *
 * @example
 * ```ts ignore
 * makeCgroups(plan.cpu);
 * void warmCgroupJoins(plan.cpu); // then spawn the prologue
 * ```
 */
export function warmCgroupJoins(cpu: CpuPlan): Promise<Warmup> {
  // A v2 host is not measured here (no v2 CPU controller on this project's machine): no warm-up.
  const mount = cpu.cgroup?.version === 1 ? cpu.cgroup.mount : undefined;
  if (!cpu.sh || !mount || failedOnce) return Promise.resolve("none");
  if (inFlight) return inFlight;
  let child: Deno.ChildProcess;
  try {
    // No pipes: the shell prints nothing worth reading, and each pipe costs the host's loop.
    child = new Deno.Command(cpu.sh, {
      args: ["-c", JOIN_OWN, "plugbox", mount],
      env: { PATH: "/usr/bin:/bin" },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    failedOnce = true;
    return Promise.resolve("failed"); // no shell, or no --allow-run: the prologue says so
  }
  // Neither the shell nor its timer keeps a host alive that has nothing else to do.
  child.unref();
  // A slow shell is killed after 2 s. One waiting in the kernel for the lock dies only once it
  // has the lock (the wait is uninterruptible), as the prologue's join would wait too.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // it has just exited
    }
  }, 2000);
  Deno.unrefTimer(timer);
  const warmup: Promise<Warmup> = child.status
    .then((status): Warmup => status.success ? "joined" : "failed", (): Warmup => "failed")
    .then((outcome) => {
      clearTimeout(timer);
      // A shell that could not join stops the warm-ups; one only slow this time does not.
      if (outcome === "failed" && !timedOut) failedOnce = true;
      if (inFlight === warmup) inFlight = undefined;
      return outcome;
    });
  inFlight = warmup;
  return warmup;
}
