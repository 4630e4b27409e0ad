/**
 * The cap on every plugin's tasks together. Each plugin's pids cgroup holds
 * it to {@linkcode PIDS_MAX} processes and threads, but the machine has only
 * `kernel.pid_max` of them (32,768 here, the kernel's default): four plugins
 * of no grants, each making 8,189 threads in 2 s within its memory cap,
 * left the host and every other program on the machine unable to fork
 * (review 114's item). The folder every plugin's pids cgroup is made in is
 * a cgroup too, and a limit there holds all of them together: half of the
 * machine's tasks, so the host and the rest of the machine keep the other
 * half. A limit already lower (an administrator's) is kept.
 * @module
 */

import { join } from "node:path";
import { runScript } from "./exec.ts";

// $1: the folder plugbox makes its pids cgroups in. Lowers its pids.max to half of the fewer of
// pid_max and threads-max (either counts every process and thread); a lower one is left. With one
// cat: dash's read takes a byte at a time, and /proc/sys gives nothing past a read's first byte.
const CAP = `set -- "$1" $(cat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max) || exit 1
case $2$3 in ''|*[!0-9]*) exit 1 ;; esac
m=$2; [ "$3" -lt "$m" ] && m=$3
c=$((m / 2))
read -r now < "$1/pids.max" || exit 1
if [ "$now" = max ] || [ "$now" -gt "$c" ]; then echo "$c" > "$1/pids.max"; fi`;

/** Half of the fewer of the machine's pids and threads. */
function machineTasksCap(pidMax: string, threadsMax: string): number | undefined {
  const most = Math.min(Number(pidMax), Number(threadsMax));
  return Number.isSafeInteger(most) && most > 1 ? Math.floor(most / 2) : undefined;
}

/**
 * Caps the tasks of every plugin together at half the machine's (see the
 * module's note), in `base`, the folder plugbox makes pids cgroups in: in
 * this process where Deno lets it (`here`), else in one shell. Best effort:
 * where neither may write, each plugin's own cap still holds.
 *
 * @example
 * ```ts ignore
 * await capAllTasks("/bin/sh", "/sys/fs/cgroup/pids/plugbox", true);
 * ```
 */
export async function capAllTasks(shell: string, base: string, here: boolean): Promise<void> {
  if (here) {
    try {
      const read = (path: string) => Deno.readTextFileSync(path).trim();
      const cap = machineTasksCap(
        read("/proc/sys/kernel/pid_max"),
        read("/proc/sys/kernel/threads-max"),
      );
      const file = join(base, "pids.max");
      const now = read(file);
      if (cap !== undefined && (now === "max" || Number(now) > cap)) {
        Deno.writeTextFileSync(file, String(cap));
      }
      return;
    } catch {
      // Refused here after all: the shell tries.
    }
  }
  await runScript(shell, CAP, [base]);
}
