/**
 * The once-per-host probe of the cgroup controllers plugbox may use: where
 * the CPU, memory, pids and cpuacct controllers are mounted, and whether a
 * cgroup made under each takes the values a plugin's will need. Each
 * candidate is tried for real, once per host process; the probe also sweeps
 * the empty cgroups left by hosts that died.
 *
 * It runs in the host's own process where Deno lets it (`--allow-all`: Deno
 * 2.9 reads `/proc/self` and writes `/sys` with nothing less, whatever a
 * permission query says), and otherwise in two shells, as before: a program
 * here costs 3 to 5 ms, and the two shells ran on every host's first start.
 * @module
 */

import { join } from "node:path";
import { CAP_ALL_TASKS_SH, capAllTasksHere } from "./cgroup_tasks.ts";
import { unescapedMountField } from "./mount_places.ts";
import { runScript } from "./exec.ts";

/** A CPU controller plugbox could make cgroups under. */
export interface CpuController {
  version: 1 | 2;
  /** The folder plugbox makes its cgroups in. */
  base: string;
}

/** Where plugbox may make its CPU, memory and pids cgroups here. */
export interface Controllers {
  cpu: CpuController;
  /** The v1 memory controller's folder for plugbox's cgroups. */
  memory?: string;
  /** The v1 pids controller's folder for plugbox's cgroups. */
  pids?: string;
  /** The v1 cpuacct controller's folder for plugbox's cgroups. */
  cpuacct?: string;
}

/**
 * The name of the plugin's own memory cgroup inside its memory cgroup, where the egress relay
 * runs beside it (cpu_limits.ts `pluginMemoryDir`): a sweep removes it before the one that holds it.
 */
export const PLUGIN_MEMORY_NAME = "plugin";

/**
 * The most processes and threads a plugin holds together, where a pids
 * cgroup holds it (a fork or thread past it fails in the plugin).
 */
export const PIDS_MAX = 8192;

/**
 * Where the CPU controller is mounted and this process's cgroup in it (v1
 * first). A mount shows its hierarchy from its root (mountinfo's fourth
 * field: not `/` in a container that has no cgroup namespace of its own), so
 * this process's cgroup is found under a mount only below that root; a path
 * with `..` (a cgroup outside this process's namespace) is under none.
 * mountinfo escapes a space in a path as `\040`.
 */
export function cpuControllers(
  mountinfo: string,
  own: string,
  controller = "cpu",
): CpuController[] {
  // This process's v1 cgroups ("id:controllers:path") and its v2 path ("0::path"), read once.
  const v1 = [...own.matchAll(/^\d+:([^:]*):(.*)$/gm)]
    .filter((m) => m[1].split(",").includes(controller)).map((m) => m[2]);
  const v2 = /^0::(.*)$/m.exec(own)?.[1];
  const found: CpuController[] = [];
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const [fstype, , superOptions = ""] = right.split(" ");
    const [, , , root, mount] = left.split(" ").map(unescapedMountField);
    if (root === undefined || mount === undefined) continue;
    if (fstype === "cgroup" && superOptions.split(",").includes(controller)) {
      for (const path of v1) {
        const seen = belowRoot(root, path);
        if (seen !== undefined) found.unshift({ version: 1, base: join(mount, seen, "plugbox") });
      }
    }
    const seen = fstype === "cgroup2" && v2 !== undefined ? belowRoot(root, v2) : undefined;
    if (seen !== undefined) found.push({ version: 2, base: join(mount, seen) });
  }
  return found;
}

/** `path` (a cgroup) as seen under a mount of the hierarchy from `root`; undefined if not there. */
function belowRoot(root: string, path: string): string | undefined {
  if (!path.startsWith("/") || path.split("/").includes("..")) return undefined;
  if (root === "/") return path;
  if (path === root) return "/";
  return path.startsWith(`${root}/`) ? path.slice(root.length) : undefined;
}

/**
 * This host's pid namespace (the inode of `/proc/self/ns/pid`), once the
 * probe read it; "" until then, or where it could not.
 */
let pidNamespace = "";

/**
 * This host's start (clock ticks after boot, `/proc/self/stat`'s 22nd
 * field), once the probe read it; "" until then, or where it could not.
 */
let hostStart = "";

/**
 * This host's time namespace (the inode of `/proc/self/ns/time`): a start
 * in `/proc/<pid>/stat` is shown as the reader's time namespace sees it, so
 * a start recorded in one is compared only by a sweep in the same one.
 */
let timeNamespace = "";

/** The start time in a `/proc/<pid>/stat` line; "" where it holds none. */
function startOf(stat: string): string {
  // Fields follow the command's closing parenthesis: the 22nd overall is the 20th after it.
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return /^[0-9]+$/.test(fields[19] ?? "") ? fields[19] : "";
}

/** The inode in a `pid:[4026531836]` (or `time:[…]`) line of `links`; "" where there is none. */
function namespaceOf(links: string | undefined, kind: "pid" | "time"): string {
  return new RegExp(`^${kind}:\\[([0-9]+)\\]$`, "m").exec(links ?? "")?.[1] ?? "";
}

/**
 * The name of a cgroup plugbox makes here: the host's pid first, so that
 * another host's sweep leaves it alone while this host lives, then its pid
 * namespace (`ns<inode>`, `ns` where unknown): a pid tells whether a host
 * lives only in that namespace (review 103), so only a sweep in it kills
 * what the cgroup holds. Then the host's start time and time namespace
 * (`t<ticks>.<inode>`, either "" where unknown): a dead host's pid given to
 * a new process kept its cgroups' orphans alive for as long as that process
 * ran.
 */
export function cgroupName(id: string): string {
  return `plugbox-${Deno.pid}-ns${pidNamespace}-t${hostStart}.${timeNamespace}-${id}`;
}

// Prints this process's mounts, cgroups and pid namespace (a child of the host: the host's own),
// then its parent's (the host's) time namespace and stat line, for its start time. With printf:
// dash's echo would turn mountinfo's escapes (a space is \040) into the characters (review 34).
const SHOW = `while IFS= read -r l; do printf '%s\\n' "$l"; done < /proc/self/mountinfo; echo ===
while IFS= read -r l; do printf '%s\\n' "$l"; done < /proc/self/cgroup; echo ===
readlink /proc/self/ns/pid /proc/$PPID/ns/time; echo ===
read -r s < /proc/$PPID/stat && printf '%s\\n' "$s"`;

/**
 * The shell's {@linkcode killMembers}, for where Deno refuses the read or
 * the kill: SIGKILLs each pid cgroup folder `$d` lists. The sweep of a dead
 * host's cgroups and a plugin's closing script both run it.
 */
export const KILL_MEMBERS_SH =
  `while read -r p; do case $p in ''|0|*[!0-9]*) ;; *) kill -9 "$p" ;; esac; done < "$d/cgroup.procs"`;

// One run for every trial: $1 holds the trial folders, one per line (cgroup paths hold no
// newline: a base that does would be skipped), made with one mkdir; $2 the folders to sweep
// for empty cgroups left by hosts that died, one per line; $3 and $4 this host's pid and time
// namespaces (see {@linkcode cgroupName}); $5 the folders of the pids cgroups to cap together
// ({@linkcode CAP_ALL_TASKS_SH}), one per line; then five positions per trial:
// folder, file, value, second file (or ""), its value. Prints "yes" or "no" per trial, in
// order: "yes" only if the folder is a cgroup (cgroupfs made its `cgroup.procs`) and every value
// could be written. Each program run costs a start 3 to 5 ms
// (one sh per trial, with a mkdir and an rmdir each, cost the first start about 90 ms).
// The sweep removes only what no live host may still be about to join: every cgroup plugbox
// makes is named "plugbox-<host pid>-…" ({@linkcode cgroupName}), and a prologue makes its
// cgroups empty and joins them a moment later, so one whose host is alive is left alone (this
// host's own trial folders are removed by name; a name without a pid is from an older plugbox).
// Globs expand only in the sweep's own pattern, never in a base's name. `sweepHere` is the same
// sweep in the host's own process. A dead host's cgroup may still hold a process: a child of a
// plugin with a run grant under the Deno or Landlock layer, orphaned before the host was
// SIGKILLed, is in neither the plugin's tree nor its pdeathsig's reach (review 102). The sweep
// stops the forks (`pids.max` 0) of each whose name's host is gone and SIGKILLs what it lists
// before it removes them; one the kernel has not yet let go of is removed by the next host's
// sweep. A name without a pid may be a live older plugbox's: what it holds is left alone. So is
// what a cgroup holds whose name's pid namespace is not this host's ($3, "" where unknown): there
// the pid names another process or none, and a host in a container's or an unshared namespace
// killed a live host's plugins, or stopped their forks (review 103). A host counts as gone, too,
// where a process lives under its pid but began after the start the name records (`reused`,
// the 22nd field of its stat line, read to its last line: a process's name may hold a newline),
// only where the name's time namespace is this host's ($4): a start is shown as the reader's
// time namespace sees it. A dead host's pid given to a new process kept its cgroups' orphans
// alive while that process ran. A memory cgroup may hold the plugin's own ({@linkcode
// PLUGIN_MEMORY_NAME}), which must go first: it is killed with the one that holds it, and removed
// with it where its host is gone here or where the one that holds it holds no process (an own
// cgroup beside a sandbox that runs is empty until its launcher joins it, review 163).
const TRIALS = `IFS='
'
set -f
reused() {
  l=; while IFS= read -r x; do l=$x; done < "/proc/$1/stat" || return 1
  IFS=' '; set -- "$1" "$2" \${l##*) }; IFS='
'
  case \${22} in ''|*[!0-9]*) return 1 ;; esac
  [ "\${22}" != "$2" ]
}
mkdir -p -- $1 2>/dev/null
trials=$1
sweep=$2
ns=$3
tns=$4
capped=$5
shift 5
while [ $# -ge 5 ]; do
  if [ -d "$1" ] && [ -f "$1/cgroup.procs" ] && echo "$3" > "$1/$2" 2>/dev/null &&
    { [ -z "$4" ] || echo "$5" > "$1/$4" 2>/dev/null; }; then echo yes; else echo no; fi
  shift 5
done
${CAP_ALL_TASKS_SH}
set -- $trials
dead=
for base in $sweep; do
  set +f
  for d in "$base"/plugbox-*; do
    n=\${d##*/plugbox-}; pid=\${n%%-*}
    case $pid in ''|*[!0-9]*) ;; *) t=\${n#*-}; s=\${t#*-}; s=\${s%%-*}
      if [ -d "/proc/$pid" ]; then
        case $s in t[0-9]*.*) ;; *) continue ;; esac
        st=\${s#t}; st=\${st%%.*}
        case $st in *[!0-9]*) continue ;; esac
        [ "\${s#*.}" = "$tns" ] && reused "$pid" "$st" 2>/dev/null || continue
      fi
      [ -n "$ns" ] && [ "\${t%%-*}" = "ns$ns" ] && dead="$dead$d
" ;; esac
    o=$d/${PLUGIN_MEMORY_NAME}
    if [ -d "$o" ]; then case $dead in
      *"$d
") dead="$dead$o
"; set -- "$@" "$o" ;;
      *) read -r p < "$d/cgroup.procs" || set -- "$@" "$o" ;;
    esac; fi 2>/dev/null
    set -- "$@" "$d"
  done
  set -f
done
for d in $dead; do
  [ -f "$d/pids.max" ] && echo 0 > "$d/pids.max"
  ${KILL_MEMBERS_SH}
done 2>/dev/null
[ $# -gt 0 ] && rmdir -- "$@" 2>/dev/null
exit 0`;

/** One trial: a folder to make under a controller and the values it must take. */
interface Trial {
  base: string;
  writes: [string, string] | [string, string, string, string];
  /** A pids controller's: its folder caps every plugin's tasks together (cgroup_tasks.ts). */
  capsAllTasks?: boolean;
}

/** What a trial cgroup of each kind must take: a quota, a memory limit, a pids limit, a reset. */
const TRIAL_WRITES: Record<
  "cpu" | "memory" | "pids" | "cpuacct",
  (version: 1 | 2) => Trial["writes"]
> = {
  cpu: (version) =>
    version === 1
      ? ["cpu.cfs_period_us", "100000", "cpu.cfs_quota_us", "1000"]
      : ["cpu.max", "1000 100000"],
  memory: () => ["memory.limit_in_bytes", "67108864"],
  pids: () => ["pids.max", String(PIDS_MAX)],
  cpuacct: () => ["cpuacct.usage", "0"],
};

/** What an operation here came to: done, refused by the kernel, or refused by Deno itself. */
type Outcome = "done" | "failed" | "refused";

/**
 * Runs `op`; "refused" where Deno, not the kernel, said no (it wants
 * `--allow-all`). The probe's operations are synchronous: each is a few
 * microseconds on `/proc` and cgroupfs, and Deno's asynchronous file writes
 * cost 3 ms the first time a process uses them.
 */
function attempt(op: () => unknown): Outcome {
  try {
    op();
    return "done";
  } catch (error) {
    return error instanceof Deno.errors.NotCapable ? "refused" : "failed";
  }
}

/**
 * This process's mounts and cgroups, read here, in {@linkcode SHOW}'s
 * form; undefined where Deno refuses (anything less than `--allow-all`), or
 * could ask (without read and write access to everything).
 */
function showHere(): string | undefined {
  // Only where no look or write here can prompt: a host run in a terminal with a narrower
  // --allow-read would otherwise be asked about /proc at its first start, and wait for it.
  const all = (name: "read" | "write") => Deno.permissions.querySync({ name }).state === "granted";
  if (!all("read") || !all("write")) return undefined;
  try {
    const mountinfo = Deno.readTextFileSync("/proc/self/mountinfo");
    const own = Deno.readTextFileSync("/proc/self/cgroup");
    let ns = "";
    attempt(() => ns = Deno.readLinkSync("/proc/self/ns/pid"));
    attempt(() => ns += `\n${Deno.readLinkSync("/proc/self/ns/time")}`);
    const stat = Deno.readTextFileSync("/proc/self/stat");
    return `${mountinfo}===\n${own}===\n${ns}\n===\n${stat}`;
  } catch {
    return undefined;
  }
}

/**
 * {@linkcode TRIALS} in this process: each trial's folder made and written,
 * then the sweep. Undefined where Deno refuses any step: the shell then
 * runs the trials again under the same names, and its sweep removes what
 * was made here.
 */
function runTrialsHere(
  dirs: string[],
  trials: Trial[],
  bases: string[],
  capped: string[],
): boolean[] | undefined {
  const outcomes = trials.map((trial, i) => {
    const made = attempt(() => Deno.mkdirSync(dirs[i], { recursive: true }));
    if (made !== "done") return made;
    // cgroupfs gives a new cgroup its files; a plain folder (cgroupfs hidden under another
    // mount) takes any write and holds nothing.
    const cgroup = attempt(() => {
      if (!Deno.statSync(join(dirs[i], "cgroup.procs")).isFile) throw new Error("not a cgroup");
    });
    if (cgroup !== "done") return cgroup;
    const [file, value, second, secondValue = ""] = trial.writes;
    const wrote = attempt(() => Deno.writeTextFileSync(join(dirs[i], file), value));
    if (wrote !== "done" || !second) return wrote;
    return attempt(() => Deno.writeTextFileSync(join(dirs[i], second), secondValue));
  });
  if (outcomes.includes("refused") || !sweepHere(bases, dirs) || !capAllTasksHere(capped)) {
    return undefined;
  }
  return outcomes.map((outcome) => outcome === "done");
}

/**
 * Removes `own` and, in each of `bases`, every empty `plugbox-*` cgroup
 * whose host is gone (see {@linkcode TRIALS}); a host counts as gone only
 * if `/proc` says its pid is not there. False where Deno refused a step.
 */
function sweepHere(bases: string[], own: string[]): boolean {
  let refused = false;
  const gone = new Set(own);
  const dead = new Set<string>(); // named for a host /proc says is gone: what they hold is killed
  for (const base of bases) {
    const names: string[] = [];
    const listed = attempt(() => {
      for (const entry of Deno.readDirSync(base)) {
        if (entry.name.startsWith("plugbox-")) names.push(entry.name);
      }
    });
    if (listed === "refused") refused = true;
    for (const name of names) {
      const [pid, namespace, start] = name.slice("plugbox-".length).split("-");
      if (/^[0-9]+$/.test(pid)) {
        try {
          if (!reused(pid, start)) continue; // its host lives
        } catch (error) {
          if (error instanceof Deno.errors.NotCapable) refused = true;
          if (!(error instanceof Deno.errors.NotFound)) continue;
        }
        // Its pid is judged in this host's namespace only (review 103).
        if (pidNamespace !== "" && namespace === `ns${pidNamespace}`) dead.add(join(base, name));
      }
      gone.add(join(base, name));
    }
  }
  for (const dir of gone) {
    if (dead.has(dir) && !killLeftovers(dir)) refused = true;
    if (!sweepOwn(dir, dead.has(dir))) refused = true;
    if (attempt(() => Deno.removeSync(dir)) === "refused") refused = true;
  }
  return !refused;
}

/**
 * The plugin's own memory cgroup inside `dir`, where there is one (see {@linkcode TRIALS}):
 * killed and removed where `dir`'s host is gone here, removed where `dir` holds no process (an own
 * cgroup beside a running sandbox is empty until its launcher joins it). False where Deno refused.
 */
function sweepOwn(dir: string, dead: boolean): boolean {
  const own = join(dir, PLUGIN_MEMORY_NAME);
  let empty = dead;
  const looked = attempt(() => {
    if (!Deno.statSync(own).isDirectory) throw new Error("no cgroup");
    empty ||= Deno.readTextFileSync(join(dir, "cgroup.procs")).trim() === "";
  });
  if (looked !== "done") return looked !== "refused";
  if (!empty) return true;
  if (dead && !killMembers([own])) return false;
  return attempt(() => Deno.removeSync(own)) !== "refused";
}

/**
 * Whether live process `pid` began after the host a cgroup's name records
 * (its `start`, `t<ticks>.<time namespace>`): its pid was reused. Only where
 * the name has a start taken in this host's time namespace: a start is shown
 * as the reader's time namespace sees it, and a live host's cgroup judged
 * dead has its plugins killed. Throws `NotFound` where no process has `pid`.
 */
function reused(pid: string, start: string | undefined): boolean {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const [, ticks, time] = /^t([0-9]+)\.([0-9]*)$/.exec(start ?? "") ?? [];
  return ticks !== undefined && time === timeNamespace && startOf(stat) !== ticks;
}

/**
 * SIGKILLs what a dead host's cgroup `dir` still holds (see {@linkcode TRIALS}),
 * its forks stopped first where it is a pids cgroup; false where Deno
 * refused a step (the shell's sweep then does it).
 */
function killLeftovers(dir: string): boolean {
  attempt(() => Deno.writeTextFileSync(join(dir, "pids.max"), "0"));
  return killMembers([dir]);
}

/**
 * SIGKILLs every process the kernel still lists in `dirs`: the plugin's own
 * are gone by now, but a child that outlived its parent (so in neither the
 * plugin's process group nor its tree) is still in its cgroups, and so is
 * whatever it forked since. False where Deno refuses the read or the kill.
 * A plugin's stop, a host's `killNow()` and the sweep of a dead host's
 * cgroups (review 102) kill with it.
 *
 * @example
 * ```ts ignore
 * if (!killMembers(dirs)) await closeByShell(dirs); // Deno refused: the shell kills
 * ```
 */
export function killMembers(dirs: string[]): boolean {
  // Deno.kill wants all of --allow-run: with less it would ask, and wait for an answer.
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return false;
  for (const dir of dirs) {
    let pids: string[];
    try {
      pids = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n");
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) return false;
      continue; // gone meanwhile
    }
    for (const pid of pids) {
      if (!/^[1-9][0-9]*$/.test(pid)) continue;
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) return false;
        // Gone since the read (the tree's kill reaps as this runs): the pids after it still count.
      }
    }
  }
  return true;
}

/** Runs every trial, in this process where Deno lets it, else in one shell. */
async function runTrials(shell: string, trials: Trial[], here: boolean): Promise<boolean[]> {
  const usable = trials.filter((trial) => !trial.base.includes("\n"));
  const name = cgroupName(`probe-${crypto.randomUUID().slice(0, 8)}`);
  const dirs = usable.map((trial) => join(trial.base, name));
  const bases = [...new Set(usable.map((trial) => trial.base))];
  const capped = [...new Set(usable.filter((t) => t.capsAllTasks).map((t) => t.base))];
  let answers = here ? runTrialsHere(dirs, usable, bases, capped) : undefined;
  if (!answers && usable.length > 0) {
    const args = [dirs.join("\n"), bases.join("\n"), pidNamespace, timeNamespace];
    args.push(capped.join("\n"));
    usable.forEach((trial, i) => {
      const [file, value, second = "", secondValue = ""] = trial.writes;
      args.push(dirs[i], file, value, second, secondValue);
    });
    const ran = await runScript(shell, TRIALS, args);
    answers = ran?.success ? ran.stdout.trim().split("\n").map((line) => line === "yes") : [];
  }
  return trials.map((trial) => answers?.[usable.indexOf(trial)] === true);
}

/** {@linkcode SHOW}, run in a shell; undefined if it failed. */
async function showByShell(shell: string): Promise<string | undefined> {
  const ran = await runScript(shell, SHOW);
  return ran?.success ? ran.stdout : undefined;
}

const controllers = new Map<string, Promise<Controllers | undefined>>();

/** The first candidate, per kind, whose trial succeeded. */
function firstPassing<K extends string>(
  trials: ({ kind: K } & CpuController)[],
  passed: boolean[],
): Map<K, CpuController> {
  const found = new Map<K, CpuController>();
  trials.forEach((trial, i) => {
    if (passed[i] && !found.has(trial.kind)) found.set(trial.kind, trial);
  });
  return found;
}

/** Probes the controllers: see {@linkcode findControllers}. */
async function probe(shell: string): Promise<Controllers | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const here = showHere();
  const shown = here ?? await showByShell(shell);
  if (shown === undefined) return undefined;
  const [mountinfo, own = "", ns, stat = ""] = shown.split("===\n");
  pidNamespace = namespaceOf(ns, "pid");
  timeNamespace = namespaceOf(ns, "time");
  hostStart = startOf(stat.trim());
  const v1 = (kind: "memory" | "pids" | "cpuacct") =>
    cpuControllers(mountinfo, own, kind).filter((c) => c.version === 1)
      .map((c) => ({ kind, ...c }));
  const candidates = [
    ...cpuControllers(mountinfo, own).map((c) => ({ kind: "cpu" as const, ...c })),
    ...v1("memory"),
    ...v1("pids"),
    ...v1("cpuacct"),
  ];
  const trials: Trial[] = candidates.map((c) => ({
    base: c.base,
    writes: TRIAL_WRITES[c.kind](c.version),
    ...(c.kind === "pids" ? { capsAllTasks: true } : {}),
  }));
  const passing = firstPassing(candidates, await runTrials(shell, trials, here !== undefined));
  const cpu = passing.get("cpu");
  if (!cpu) return undefined;
  return {
    cpu,
    memory: passing.get("memory")?.base,
    pids: passing.get("pids")?.base,
    cpuacct: passing.get("cpuacct")?.base,
  };
}

/**
 * The controllers plugbox may make cgroups in here, tried for real once per
 * host process (and per shell): in this process where Deno lets it; else one
 * shell shows the mounts and this process's cgroups, and one more runs every
 * trial.
 *
 * @example
 * ```ts ignore
 * const found = await findControllers("/bin/sh");
 * console.log(found?.cpu.base); // "/sys/fs/cgroup/cpu/plugbox" where the host is root
 * ```
 */
export function findControllers(shell: string): Promise<Controllers | undefined> {
  let found = controllers.get(shell);
  if (!found) {
    found = probe(shell);
    found.catch(() => controllers.delete(shell));
    controllers.set(shell, found);
  }
  return found;
}

/**
 * Starts the once-per-host probe of the controllers without waiting for it,
 * so that a host's first start runs it beside the snapshot and the graph
 * check instead of after them. `planCpu` awaits the same probe.
 *
 * @example
 * ```ts ignore
 * prefetchControllers(tools.sh); // then plan the start as usual
 * ```
 */
export function prefetchControllers(shell: string | undefined): void {
  if (shell) findControllers(shell).catch(() => {});
}
