/**
 * The cap on every plugin's tasks together. Each plugin's pids cgroup holds
 * it to {@linkcode PIDS_MAX} processes and threads, but the machine has only
 * `kernel.pid_max` of them (32,768 here, the kernel's default): four plugins
 * of no grants, each making 8,189 threads in 2 s within its memory cap,
 * left the host and every other program on the machine unable to fork
 * (review 114's item). The folder every plugin's pids cgroup is made in is
 * a cgroup too, and a limit there holds all of them together: half of the
 * machine's tasks, so the host and the rest of the machine keep the other
 * half. A limit already lower (an administrator's) is kept. That folder is
 * made in the host's own cgroup, so a limit on it or on a cgroup above it
 * (a systemd service's `TasksMax`, 15% of the machine's by default; a
 * container's pids limit) counts the plugins' tasks with the host's: half
 * of the lowest of those is the cap then (review 125: under a limit of 600,
 * one plugin of no grants held 589 threads, and the host could start no
 * process: `os error 11`; now 296, and it can). The probe of
 * the controllers sets it, once per host process: in the host where Deno
 * lets it ({@linkcode capAllTasksHere}), else in the probe's own shell
 * ({@linkcode CAP_ALL_TASKS_SH}). That cap is also the budget each plugin's
 * own cap is reserved from: the prologue keeps the caps of the plugins
 * running within it, so that no plugin, nor a few together, can take the
 * tasks another needs (review 164: two plugins of 8,192 took all 16,384).
 * @module
 */

import { dirname, join } from "node:path";

/** Half of the fewer of the machine's pids and threads (either counts every task), and of `above`. */
function tasksCap(pidMax: string, threadsMax: string, above: number[] = []): number | undefined {
  const most = Math.min(Number(pidMax), Number(threadsMax), ...above);
  return Number.isSafeInteger(most) && most > 0 ? Math.max(1, Math.floor(most / 2)) : undefined;
}

/**
 * The limits of the cgroups above `base` (numbers; "max" is none), up to the hierarchy's root,
 * which has no pids.max: the host's own cgroup, and what holds it.
 */
function limitsAbove(base: string, read: (path: string) => string): number[] {
  const found: number[] = [];
  for (let dir = dirname(base); dir !== dirname(dir); dir = dirname(dir)) {
    let limit: string;
    try {
      limit = read(join(dir, "pids.max"));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) break; // the root, or no cgroup
      throw error;
    }
    if (/^\d+$/.test(limit)) found.push(Number(limit));
  }
  return found;
}

/**
 * The cap, for the probe's shell: lowers `pids.max` in each folder `$capped` lists (one a line)
 * to half of the fewer of pid_max and threads-max, and of the limit of each cgroup above it; a
 * lower one is left. With one cat: dash's read
 * takes a byte at a time, and /proc/sys gives nothing past a read's first byte. It runs where the
 * probe's positional parameters are used up (it sets its own), with IFS a newline.
 */
export const CAP_ALL_TASKS_SH = `if [ -n "$capped" ]; then
  set -- $(cat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max 2>/dev/null)
  case "$1:$2" in :*|*:|*[!0-9:]*) ;; *)
    m=$1; [ "$2" -lt "$m" ] && m=$2
    for base in $capped; do
      read -r now < "$base/pids.max" 2>/dev/null || continue
      c=$m; d=\${base%/*}
      while [ -n "$d" ] && [ -f "$d/pids.max" ]; do
        read -r l < "$d/pids.max" || break
        case $l in ''|*[!0-9]*) ;; *) [ "$l" -lt "$c" ] && c=$l ;; esac
        d=\${d%/*}
      done
      c=$((c / 2)); [ "$c" -ge 1 ] || c=1
      if [ "$now" = max ] || [ "$now" -gt "$c" ]; then echo "$c" > "$base/pids.max"; fi 2>/dev/null
    done ;;
  esac
fi`;

/**
 * Caps every plugin's tasks together (see the module's note) in each of
 * `bases`, the folders plugbox may make pids cgroups in, in this process.
 * False where Deno refused a step (the probe's shell then does it).
 *
 * @example
 * ```ts ignore
 * capAllTasksHere(["/sys/fs/cgroup/pids/plugbox"]);
 * ```
 */
export function capAllTasksHere(bases: string[]): boolean {
  try {
    const read = (path: string) => Deno.readTextFileSync(path).trim();
    const [pidMax, threadsMax] = [
      read("/proc/sys/kernel/pid_max"),
      read("/proc/sys/kernel/threads-max"),
    ];
    if (tasksCap(pidMax, threadsMax) === undefined) return true;
    for (const base of bases) {
      const file = join(base, "pids.max");
      let now: string;
      try {
        now = read(file);
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        continue; // no such cgroup here: nothing to cap
      }
      const cap = tasksCap(pidMax, threadsMax, limitsAbove(base, read))!;
      if (now === "max" || Number(now) > cap) Deno.writeTextFileSync(file, String(cap));
    }
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.NotCapable);
  }
}
