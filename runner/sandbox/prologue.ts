/**
 * The first step of a plugin's command line, when a layer needs one: a
 * POSIX shell (the host's `sh`) that makes and joins the plugin's CPU
 * cgroup, opens the seccomp filter for bubblewrap on file descriptor 3, and
 * gives plugbox's launcher a Deno dir of its own, then `exec`s the rest (so
 * the process keeps its pid). Its arguments are fixed positions, never
 * interpolated into the script.
 * @module
 */

import type { CpuPlan } from "./cpu_limits.ts";

// $1: the cgroup folder, $2 its version, $3 the quota and $4 the period (µs);
// $5: the seccomp filter for fd 3; $6: the launcher's DENO_DIR; $7: a variable the launcher's
// own Deno must not see (DENO_AUDIT_PERMISSIONS: the launcher sets it back for the plugin).
const SCRIPT = [
  `if [ -n "$1" ]; then`,
  `  mkdir -p "$1" && if [ "$2" = 1 ]; then`,
  `    echo "$4" > "$1/cpu.cfs_period_us" && echo "$3" > "$1/cpu.cfs_quota_us"`,
  `  else echo "$3 $4" > "$1/cpu.max"; fi && echo $$ > "$1/cgroup.procs" ||`,
  `    { echo "plugbox: cannot make or join the CPU cgroup $1" >&2; exit 125; }`,
  `fi`,
  // $8, $9: the memory cgroup and its limit (bytes); $10, $11: the pids cgroup and its limit.
  `if [ -n "$8" ]; then`,
  `  mkdir -p "$8" && echo "$9" > "$8/memory.limit_in_bytes" && echo $$ > "$8/cgroup.procs" ||`,
  `    { echo "plugbox: cannot make or join the memory cgroup $8" >&2; exit 125; }`,
  // No swap past the cap, where the kernel accounts it (memsw), and no swapping at all.
  `  echo "$9" > "$8/memory.memsw.limit_in_bytes" 2>/dev/null; echo 0 > "$8/memory.swappiness" 2>/dev/null`,
  `fi`,
  `if [ -n "\${10}" ]; then`,
  `  mkdir -p "\${10}" && echo "\${11}" > "\${10}/pids.max" && echo $$ > "\${10}/cgroup.procs" ||`,
  `    { echo "plugbox: cannot make or join the pids cgroup \${10}" >&2; exit 125; }`,
  `fi`,
  // $12: the cpuacct cgroup the watchdog reads the CPU time of the whole tree from.
  `if [ -n "\${12}" ]; then`,
  `  mkdir -p "\${12}" && echo $$ > "\${12}/cgroup.procs" ||`,
  `    { echo "plugbox: cannot make or join the cpuacct cgroup \${12}" >&2; exit 125; }`,
  `fi`,
  `if [ -n "$5" ]; then exec 3< "$5" || exit 125; fi`,
  `if [ -n "$6" ]; then export DENO_DIR="$6"; fi`,
  `if [ -n "$7" ]; then unset "$7"; fi`,
  `shift 12`,
  `exec "$@"`,
].join("\n");

/** What the prologue does; each is optional. */
export interface PrologueOptions {
  /** The plugin's CPU cgroup, to make with its quota and join. */
  cgroup?: CpuPlan["cgroup"];
  /** The seccomp filter file bubblewrap reads from fd 3 (`--seccomp 3`). */
  seccompFile?: string;
  /** The Deno dir plugbox's launcher runs with (never the plugin's own). */
  launcherDenoDir?: string;
  /** A variable removed for the launcher (which sets it back for the plugin). */
  unset?: string;
}

/** The prologue's argv, or nothing when no step is needed. */
export function prologue(sh: string | undefined, options: PrologueOptions): string[] {
  const { cgroup, seccompFile, launcherDenoDir, unset } = options;
  if (!cgroup && !seccompFile && !launcherDenoDir) return [];
  if (!sh) throw new Error("plugbox needs a POSIX sh on PATH for this layer");
  const group = cgroup
    ? [cgroup.dir, String(cgroup.version), String(cgroup.quotaUs), String(cgroup.periodUs)]
    : ["", "", "", ""];
  const memory = cgroup?.memoryDir && cgroup.memoryBytes
    ? [cgroup.memoryDir, String(cgroup.memoryBytes)]
    : ["", ""];
  const pids = cgroup?.pidsDir && cgroup.pidsMax
    ? [cgroup.pidsDir, String(cgroup.pidsMax)]
    : ["", ""];
  return [
    ...[sh, "-c", SCRIPT, "plugbox", ...group],
    ...[seccompFile ?? "", launcherDenoDir ?? "", unset ?? ""],
    ...memory,
    ...pids,
    cgroup?.cpuacctDir ?? "",
  ];
}
