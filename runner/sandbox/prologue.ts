/**
 * The first step of a plugin's command line: a POSIX shell (the host's
 * `sh`) that sets the memory, CPU-time, open-file and core-dump limits
 * (`ulimit`, so no `prlimit` is executed), makes and joins the plugin's
 * cgroups, opens the seccomp filter for bubblewrap on file descriptor 3,
 * and gives plugbox's launcher a Deno dir of its own, then `exec`s the
 * rest (so the process keeps its pid). Every program it runs is a cost on
 * every start (3 to 5 ms each here), so it
 * runs at most one: a single `mkdir` for all the cgroups, and only when the
 * host could not make them itself; the rest are builtins. Its
 * arguments are fixed positions, never interpolated into the script. A
 * program it runs is named by its path on the host's PATH, whose folders
 * are code (path_programs.ts): the plugin's environment has no PATH, and
 * dash's own (`/usr/local/sbin` first) holds folders that are no code root
 * where the host's PATH lacks them (review 125).
 * @module
 */

import type { CpuPlan } from "./cpu_limits.ts";
import { onHostPath } from "./host_path.ts";
import { EXEC_MARK, VERDICT } from "./start_verdict.ts";

/**
 * A plugin's share of the budget of tasks every plugin on the machine shares, where its
 * `cpu.maxTasks` asks none: 1/`TASK_SHARES` of it, so that at least that many plugins fit at once
 * whatever each does with its tasks (64 each where pid_max is 32,768), from {@linkcode TASK_FLOOR}
 * to {@linkcode TASK_CEILING}.
 */
export const TASK_SHARES = 256;

/**
 * The most tasks a plugin's share gives it, however large the budget: 1/256 of a budget of half
 * of systemd's pid_max (4,194,304) was 8,192 a plugin, so 256 plugins filled any machine, and a
 * thousand could not start (issue 14). 64 is what a Deno plugin holds (6 threads at its start, up
 * to 36 under thousands of file reads at once, where at 24 Deno ended itself making a worker
 * thread) with its egress relay beside it; a plugin that needs more asks `cpu.maxTasks`.
 */
export const TASK_CEILING = 64;

/**
 * The fewest tasks a plugin's share gives it: a Deno plugin here holds 6 threads at its start and
 * up to 36 under thousands of file reads at once; the egress relay is a Deno process of its tree.
 */
export const TASK_FLOOR = 32;

/** How many fixed positions the script takes before the command it runs. */
const POSITIONS = 22;

/**
 * The most files a plugin's process holds open (RLIMIT_NOFILE, soft and hard), where the host's
 * own is higher. A descriptor is kernel memory no per-process cap counts: a pipe or a socket pair
 * holds about 220 KiB of buffers (2,000 pairs held 444 MiB here), and a process inherited the
 * host's limit (20,000 here; review 114's item). 4,096 holds the buffers near a plugin's default
 * memory cap; a memory cgroup, where plugbox makes one, charges them too.
 */
export const OPEN_FILES = 4096;

/**
 * The most signals queued to a plugin's processes (RLIMIT_SIGPENDING, soft and hard) where native
 * code runs. A queued real-time signal, and each POSIX timer, counts against its user's limit in
 * every user namespace up to the machine's (the host's real user, root's on a root host; 96,367
 * here): a Python plugin granted nothing queued 96,357 to itself under the OS layer, and its host's
 * own `sigqueue` then failed with EAGAIN (review 169). The kernel lets a process queue one only
 * while its user's count, every process's of that user together, is within the process's limit
 * (under bubblewrap also within the limit its namespace was made with, which this one is), so
 * every plugin together holds at most this many, and the host keeps the rest. Signals the host
 * sends (`kill`, a child's exit) are never held back by it.
 */
export const PENDING_SIGNALS = 1024;

/**
 * The descriptor the prologue opens on the plugin's own memory cgroup's `tasks` file, where the
 * egress relay runs beside the plugin: bubblewrap passes it on, and plugbox's launcher writes
 * itself into that cgroup through it just before it becomes the plugin, and closes it at the exec
 * (launcher_script.ts). The sandbox mounts no cgroup file system, so the plugin can move nothing.
 */
export const PLUGIN_CGROUP_FD = 4;

/**
 * What {@linkcode SCRIPT} runs through bash when a descriptor above 9 is
 * open, or when `$2`, the pending signals limit, is one the prologue's sh
 * cannot set (dash has no `ulimit -i`): sets it, closes every one but 0, 1,
 * 2 and those `$1` lists (the seccomp filter's and the plugin's memory
 * cgroup's, or none), writes the exec's mark where `$3` asks it (its steps
 * can refuse, so the mark comes after them), then execs the rest through
 * `$4` (the prologue's sh), which drops the `SHLVL` bash exports to every
 * program it runs (no grant can name it: bash's binary is indexed with the
 * runtime's, THREATS T16).
 */
const CLOSE_ALL = [
  `keep=$1; signals=$2; mark=$3; sh=$4; shift 4`,
  // The pending signals limit (PENDING_SIGNALS), where the prologue's sh has no ulimit -i (dash).
  // Lowered only, as RLIMIT_NOFILE is: under a lower hard limit of the host's, every native-code
  // start was refused (review 171); the plugin keeps that one, soft and hard.
  `if [ -n "$signals" ]; then`,
  `  { ulimit -i "$signals" && ulimit -H -i "$signals"; } 2>/dev/null ||`,
  `  { h=$(ulimit -H -i) && [ "$h" != unlimited ] && [ "$h" -le "$signals" ] && ulimit -S -i "$h"; } ||`,
  `    { echo "${VERDICT}limits: bash cannot limit the pending signals (ulimit -i $signals)" >&2; exit 125; }`,
  `fi`,
  `for f in /dev/fd/* /proc/self/fd/*; do`,
  `  n=\${f##*/}`,
  `  case $n in [012]|*[!0-9]*) ;; *) case " $keep " in *" $n "*) ;; *) eval "exec $n<&-" ;; esac ;; esac`,
  `done`,
  // The mark after bash's own steps, which can refuse: only sh's exec of the plugin follows.
  `if [ -n "$mark" ]; then echo "${EXEC_MARK}" >&2 || exit 125; fi`,
  `exec "$sh" -c "unset SHLVL; exec \\"\\$@\\"" sh "$@"`,
].join("\n");

// $1: the cgroup folder, $2 its version, $3 the quota and $4 the period (µs);
// $5: the seccomp filter for fd 3; $6: the launcher's DENO_DIR; $7: a variable the launcher's
// own Deno must not see (DENO_AUDIT_PERMISSIONS: the launcher sets it back for the plugin);
// $8, $9: the memory cgroup and its limits (bytes: memory, then its sockets' buffers); $10, $11: the pids cgroup and its limit
// (or "share");
// $12: the cpuacct cgroup the watchdog reads the CPU time of the whole tree from;
// $13: RLIMIT_DATA in KiB; $14: RLIMIT_CPU in seconds. A limit that cannot be set ends the start.
// $15: RLIMIT_NOFILE, lowered only: where the host's hard limit is already lower, it stays.
// $16: a shell that closes descriptors above 9 (bash), for when this one cannot (dash); $17: this sh.
// $18: mkdir, from the host's PATH (empty: none there).
// $19, $20: the plugin's own memory cgroup inside $8 (where the egress relay runs beside it) and
// its limit in bytes, memory and sockets' buffers: made and limited here, joined by the launcher
// through the descriptor {@linkcode PLUGIN_CGROUP_FD} opened on its tasks file.
// $21: RLIMIT_SIGPENDING ({@linkcode PENDING_SIGNALS}), or empty: set by sh where it can, else by
// $16 (bash) just before the exec; without either the start ends.
// $22: non-empty where this is plugbox's last step: EXEC_MARK on stderr just before the exec.
const SCRIPT = [
  // A verdict of plugbox's own, before the plugin's exec: `refuse <reason> <words> [fields]`.
  `refuse() { echo "${VERDICT}$1\${3:+ $3}: $2" >&2; exit 125; }`,
  // Soft and hard: zsh's ulimit (as sh too) sets only the soft limit unless told -H, and a
  // plugin may raise a soft limit up to the hard one; dash takes -H and -S only one at a time.
  `if [ -n "\${13}" ]; then ulimit -d "\${13}" && ulimit -H -d "\${13}" ||`,
  `  refuse limits "sh cannot set the memory limit (ulimit -d \${13} KiB)"; fi`,
  `if [ -n "\${14}" ]; then ulimit -t "\${14}" && ulimit -H -t "\${14}" ||`,
  `  refuse limits "sh cannot set the CPU-time limit (ulimit -t \${14} s)"; fi`,
  `if [ -n "\${15}" ]; then ulimit -n "\${15}" 2>/dev/null && ulimit -H -n "\${15}"; fi`,
  // No core dump, soft or hard: a plugin that raised its soft limit to the hard one (unlimited by
  // default) and crashed handed the kernel up to its whole memory cap to write, and where
  // core_pattern is a program (systemd-coredump, apport) that program writes it on the host's disk
  // with the host's CPU, outside every cap of the plugin's (review 148).
  `if [ -n "\${13}" ]; then ulimit -c 0 && ulimit -H -c 0 ||`,
  `  refuse limits "sh cannot forbid core dumps (ulimit -c 0)"; fi`,
  // Pending signals (review 169): dash has no ulimit -i, so there bash sets it (CLOSE_ALL).
  `signals=`,
  `if [ -n "\${21}" ]; then`,
  `  if { ulimit -i "\${21}" && ulimit -H -i "\${21}"; } 2>/dev/null; then :`,
  `  elif [ -n "\${16}" ]; then signals=\${21}`,
  `  else refuse limits "sh cannot limit the plugin's pending signals (ulimit -i \${21}) and no bash is on the host's PATH"; fi`,
  `fi`,
  // Joins cgroup $1 of version $2. Under v1 it moves this thread (`0` to `tasks`: the shell has
  // one thread, so the whole process moves, and all it execs starts there): a thread that moves
  // itself skips the kernel's global threadgroup lock, which `cgroup.procs` takes for writing
  // and which waits for an RCU grace period, 8 to 30 ms here per start. `echo` must be the
  // shell's builtin (it is in dash, bash, zsh and busybox's ash): a child would move alone.
  // Only into a cgroup: in a plain folder (cgroupfs hidden under another mount) the write would
  // make a file, join nothing, and leave the plugin unlimited.
  `into() {`,
  `  if [ "$2" = 2 ]; then [ -f "$1/cgroup.procs" ] && echo $$ > "$1/cgroup.procs"`,
  `  else [ -f "$1/tasks" ] && echo 0 > "$1/tasks"; fi`,
  `}`,
  // Reserves the plugin's tasks from the budget every plugin on the machine shares: the limit of
  // the folder their pids cgroups are made in ($1's parent; half of the machine's tasks, or of the
  // host's own cgroup's limit: cgroup_tasks.ts). Each plugin's pids.max is its reservation, and
  // together they stay within that limit, so no plugin, nor any few together, can take the tasks
  // another needs to start or run (review 164: two plugins of 8,192 tasks took a budget of
  // 16,384, and every other plugin's start failed making its threads). $2 is its cap, or
  // "share": the budget's 1/${TASK_SHARES}, from ${TASK_FLOOR} to ${TASK_CEILING}. The cgroup is joined first and its cap
  // written next, then every non-empty sibling's cap is summed: of two starts at once, the
  // later to write reads the other's, so both cannot pass (one that has joined and not yet
  // written reads ours after). A sibling whose cap is none yet is such a start; an empty one is
  // no plugin (a dead host's, a trial, one being made). Builtins only. Over the budget, or where
  // the folder has no limit to share (fail narrow), `full` says why and the start ends.
  `reserved() {`,
  `  p=\${1%/*}; b=; fields=`,
  `  read -r b < "$p/pids.max" 2>/dev/null`,
  `  case $b in ''|*[!0-9]*)`,
  `    verdict=no-task-budget`,
  `    full="$p, the pids cgroup whose limit every plugin's tasks are reserved from, has none (pids.max: \${b:-unreadable}); a host's probe of the cgroup controllers sets it"`,
  `    return 1 ;; esac`,
  `  c=$2`,
  `  if [ "$c" = share ]; then`,
  `    c=$((b / ${TASK_SHARES})); [ "$c" -ge ${TASK_FLOOR} ] || c=${TASK_FLOOR}; [ "$c" -le ${TASK_CEILING} ] || c=${TASK_CEILING}`,
  `  fi`,
  `  echo "$c" > "$1/pids.max" || return 1`,
  `  sum=0; n=0`,
  `  for d in "$p"/plugbox-*; do`,
  `    read -r k < "$d/pids.current" 2>/dev/null && [ "$k" != 0 ] || continue`,
  `    read -r m < "$d/pids.max" 2>/dev/null || continue`,
  `    case $m in ''|*[!0-9]*) continue ;; esac`,
  `    sum=$((sum + m)); n=$((n + 1))`,
  `  done`,
  `  [ "$sum" -le "$b" ] && return 0`,
  `  verdict=task-budget fields="budget=$b reserved=$((sum - c)) cap=$c others=$((n - 1))"`,
  `  full="the machine's plugins may hold $b processes and threads together ($p/pids.max, half of the machine's tasks or of the host's cgroup's limit), the $((n - 1)) other plugins running reserve $((sum - c)) of them, and this one's cap is $c: stop a plugin, or give this one a lower cpu.maxTasks"`,
  `  return 1`,
  `}`,
  // Joins every cgroup the plan has (an empty position is none); on failure `why` names which.
  `joined() {`,
  `  if [ -n "$1" ]; then`,
  `    if [ "$2" = 1 ]; then`,
  `      echo "$4" > "$1/cpu.cfs_period_us" && echo "$3" > "$1/cpu.cfs_quota_us"`,
  `    else echo "$3 $4" > "$1/cpu.max"; fi && into "$1" "$2" ||`,
  `      { why="the CPU cgroup $1"; return 1; }`,
  `  fi`,
  `  if [ -n "$8" ]; then`,
  // Socket buffers (TCP and UDP) are charged to no v1 memory cgroup until it is given a cap of
  // its own for them: without it, a plugin capped at 64 MiB held 259 MiB in its own loopback's
  // buffers, up to the machine's tcp_mem and udp_mem that every socket shares (review 114).
  // $9 is "<memory>:<sockets>": the same cap twice, but for the plugin beside the relay.
  `    mem=\${9%:*} tcp=\${9#*:}`,
  `    echo "$mem" > "$8/memory.limit_in_bytes" &&`,
  `    { [ ! -e "$8/memory.kmem.tcp.limit_in_bytes" ] ||`,
  `      echo "$tcp" > "$8/memory.kmem.tcp.limit_in_bytes"; } && into "$8" 1 ||`,
  `      { why="the memory cgroup $8"; return 1; }`,
  // No swap past the cap, where the kernel accounts it (memsw), and no swapping at all.
  `    echo "$mem" > "$8/memory.memsw.limit_in_bytes" 2>/dev/null; echo 0 > "$8/memory.swappiness" 2>/dev/null`,
  // The plugin's own, after $8 is joined: until then a sweep may take both (see below). Its
  // sockets' buffers are held to its cap too (they count in $8's as well).
  `    if [ -n "\${19}" ]; then`,
  `      echo "\${20}" > "\${19}/memory.limit_in_bytes" &&`,
  `      { [ ! -e "\${19}/memory.kmem.tcp.limit_in_bytes" ] ||`,
  `        echo "\${20}" > "\${19}/memory.kmem.tcp.limit_in_bytes"; } ||`,
  `        { why="the plugin's memory cgroup \${19}"; return 1; }`,
  `      echo "\${20}" > "\${19}/memory.memsw.limit_in_bytes" 2>/dev/null`,
  `      echo 0 > "\${19}/memory.swappiness" 2>/dev/null`,
  `    fi`,
  `  fi`,
  `  if [ -n "\${10}" ]; then`,
  `    into "\${10}" 1 && reserved "\${10}" "\${11}" ||`,
  `      { why="the pids cgroup \${10}"; return 1; }`,
  `  fi`,
  `  if [ -n "\${12}" ]; then`,
  `    into "\${12}" 1 || { why="the cpuacct cgroup \${12}"; return 1; }`,
  `  fi`,
  `}`,
  // One mkdir for them all, then the joins. Until a cgroup is joined it is empty, and a host
  // whose sweep cannot tell this host is alive (another PID namespace, an older plugbox) may
  // remove it: then it is made again, at most three times; only the last try's errors show.
  `if [ -n "$1$8\${10}\${12}" ]; then`,
  `  for try in 1 2 3; do`,
  // The host makes them where it may (makeCgroups): then no program runs here.
  `    made=1; for d in \${1:+"$1"} \${8:+"$8"} \${19:+"\${19}"} \${10:+"\${10}"} \${12:+"\${12}"}; do`,
  `      [ -d "$d" ] || made=; done`,
  `    [ -n "$made" ] || [ -n "\${18}" ] ||`,
  `      refuse cgroups "cannot make the plugin's cgroups: no mkdir on the host's PATH"`,
  `    [ -n "$made" ] || "\${18}" -p -- \${1:+"$1"} \${8:+"$8"} \${19:+"\${19}"} \${10:+"\${10}"} \${12:+"\${12}"} ||`,
  `      refuse cgroups "cannot make the plugin's cgroups"`,
  `    full=`,
  `    if [ "$try" = 3 ]; then joined "$@" && break; else joined "$@" 2>/dev/null && break; fi`,
  `    [ -n "$full" ] && refuse "$verdict" "$full" "$fields"`,
  `    [ "$try" = 3 ] && refuse cgroups "cannot make or join $why"`,
  `  done`,
  `fi`,
  // Every descriptor but 0, 1 and 2 is closed: the host's own are close-on-exec, so any other is
  // one the host inherited from its parent (a shell's `7<file`, a CI runner's pipe, a socket, a
  // terminal), which Deno passes on to every child. A plugin granted nothing read and wrote them
  // through `node:net` (`new Socket({ fd })`), and native code or a command plugin any of them,
  // under every layer (review 121). dash names only descriptors 0 to 9: one above is closed by
  // $16 (bash) just before the exec; without it the start ends rather than pass it on. Both
  // listings: a host may lack one (a chroot without /dev/fd, a system without /proc). Where it
  // lacks both, nothing was listed and every descriptor passed on (review 125): 0 to 2 are always
  // open (Deno gives a child all three), so a listing without them ends the start.
  `high=; keep=; listed=`,
  `for f in /dev/fd/* /proc/self/fd/*; do`,
  `  n=\${f##*/}`,
  `  case $n in [012]) listed=1 ;; *[!0-9]*) ;; [3-9]) eval "exec $n<&-" ;; *) high=$n ;; esac`,
  `done`,
  `if [ -z "$listed" ]; then`,
  `  refuse descriptors "cannot list the descriptors the host inherited (no /dev/fd or /proc/self/fd)"`,
  `fi`,
  `if [ -n "$high" ] && [ -z "\${16}" ]; then`,
  `  refuse descriptors "the host inherited descriptor $high from its parent, which the plugin would inherit in turn; sh cannot close one above 9 and no bash is on the host's PATH: start the host without it, or with bash on PATH"`,
  `fi`,
  `closer=\${16}; sh=\${17}`,
  // \`command\`: a failed redirection of a special builtin ends sh at once (exit 2), before \`||\`.
  `if [ -n "$5" ]; then command exec 3< "$5" || refuse sandbox "cannot open the seccomp filter $5"; keep=3; fi`,
  // Only into a cgroup (see into() above): a plain folder's file would join nothing.
  `if [ -n "\${19}" ]; then`,
  `  [ -f "\${19}/tasks" ] && command exec ${PLUGIN_CGROUP_FD}> "\${19}/tasks" ||`,
  `    refuse cgroups "cannot open the plugin's memory cgroup \${19}"`,
  `  keep="$keep ${PLUGIN_CGROUP_FD}"`,
  `fi`,
  `if [ -n "$6" ]; then export DENO_DIR="$6"; fi`,
  `if [ -n "$7" ]; then unset "$7"; fi`,
  `mark=\${22}`,
  `shift ${POSITIONS}`,
  `if [ -n "$high$signals" ]; then exec "$closer" -c '${CLOSE_ALL}' closer "\${keep# }" "$signals" "$mark" "$sh" "$@"; fi`,
  // The last of plugbox's steps says so, and a plugin cannot start where it could not be said.
  `if [ -n "$mark" ]; then echo "${EXEC_MARK}" >&2 || exit 125; fi`,
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
  /** The process limits to set with `ulimit` (instead of running `prlimit`). */
  limits?: ProcessLimits;
  /**
   * A shell that can close a descriptor above 9, run only when the host
   * holds one it inherited: bash from the host's PATH unless given (`null`:
   * none, and then such a start ends).
   */
  closer?: string | null;
  /**
   * This is the last of plugbox's steps before the plugin (no launcher follows): it writes
   * {@linkcode EXEC_MARK} on stderr just before the exec (start_verdict.ts).
   */
  marksExec?: boolean;
}

/** Per-process kernel limits the prologue sets on itself before the exec. */
export interface ProcessLimits {
  /** RLIMIT_DATA, in bytes (rounded up to whole KiB, as `ulimit -d` takes it). */
  dataLimitBytes: number;
  /** RLIMIT_CPU, in seconds. */
  cpuSeconds?: number;
  /** RLIMIT_SIGPENDING, where native code runs ({@linkcode PENDING_SIGNALS}). */
  pendingSignals?: number;
}

/** The prologue's argv, or nothing when no step is needed. */
export function prologue(sh: string | undefined, options: PrologueOptions): string[] {
  const { cgroup, seccompFile, launcherDenoDir, unset, limits, closer, marksExec } = options;
  if (!cgroup && !seccompFile && !launcherDenoDir && !limits) return [];
  if (!sh) throw new Error("plugbox needs a POSIX sh on PATH for this layer");
  const group = cgroup
    ? [cgroup.dir, String(cgroup.version), String(cgroup.quotaUs), String(cgroup.periodUs)]
    : ["", "", "", ""];
  const sockets = cgroup?.socketBytes ?? cgroup?.memoryBytes;
  const memory = cgroup?.memoryDir && cgroup.memoryBytes
    ? [cgroup.memoryDir, `${cgroup.memoryBytes}:${sockets}`]
    : ["", ""];
  const pids = cgroup?.pidsDir
    ? [cgroup.pidsDir, cgroup.pidsMax ? String(cgroup.pidsMax) : "share"]
    : ["", ""];
  const own = memory[0] && cgroup?.pluginMemoryDir && cgroup.pluginMemoryBytes
    ? [cgroup.pluginMemoryDir, String(cgroup.pluginMemoryBytes)]
    : ["", ""];
  return [
    ...[sh, "-c", SCRIPT, "plugbox", ...group],
    ...[seccompFile ?? "", launcherDenoDir ?? "", unset ?? ""],
    ...memory,
    ...pids,
    cgroup?.cpuacctDir ?? "",
    limits ? String(Math.ceil(limits.dataLimitBytes / 1024)) : "",
    limits?.cpuSeconds ? String(limits.cpuSeconds) : "",
    limits ? String(OPEN_FILES) : "",
    (closer === undefined ? hostBash() : closer) ?? "",
    sh,
    cgroup ? onHostPath("mkdir") ?? "" : "",
    ...own,
    limits?.pendingSignals ? String(limits.pendingSignals) : "",
    marksExec ? "1" : "",
  ];
}

/**
 * bash from the host's PATH, as `sh` is found (isolation.ts): every PATH
 * folder is a code root, so no write grant reaches it (review 110).
 */
export function hostBash(): string | undefined {
  return onHostPath("bash");
}
