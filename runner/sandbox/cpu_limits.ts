/**
 * CPU budgets, as planned before a start: a rate (a share of one core) and a
 * total of CPU time for the process's lifetime. The rate is held by the
 * kernel where plugbox may make a CPU cgroup (cgroup v1's `cpu` controller
 * when the host may write it, as root; cgroup v2's `cpu.max` where the host's
 * own cgroup delegates it), else by the host's watchdog, which pauses the
 * plugin's processes (SIGSTOP, SIGCONT) to keep their average at the share.
 * The total is counted by the watchdog (every process of the plugin's tree)
 * and backed by `RLIMIT_CPU`. The cgroup is made and joined by the plugin's
 * prologue (`sh`); the controllers are found by `cgroup_probe.ts`.
 * @module
 */

import { dirname, join } from "node:path";
import {
  cgroupName,
  findControllers,
  KILL_MEMBERS_SH,
  killMembers,
  PIDS_MAX,
  PLUGIN_MEMORY_NAME,
} from "./cgroup_probe.ts";
import { runScript } from "./exec.ts";
import { TASK_CEILING, TASK_FLOOR, TASK_SHARES } from "./prologue.ts";

export { PIDS_MAX };

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
  /**
   * The most processes and threads the plugin's processes hold together.
   * Where plugbox makes a pids cgroup for it (a root host) it is reserved
   * from the budget every plugin on the machine shares (half of its
   * tasks), so a start whose reservation no longer fits is refused, naming
   * the cause; else, under bubblewrap, it is RLIMIT_NPROC in the sandbox's
   * user namespace. From 1 to 8,192.
   * @default {its share: 1/256 of that budget, from 32 to 64 (64 where pid_max is 32,768)}
   */
  maxTasks?: number;
}

/**
 * How a start's CPU budget is held.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 * const plan = await previewStart("./plugins/hello/main.ts", { cpu: { share: 0.5 } });
 * console.log(plan.cpu.rate); // "cgroup-v1", "cgroup-v2", "watchdog" or "none"
 * ```
 */
export interface CpuPlan {
  /** The share of one core (see {@linkcode CpuLimits.share}). */
  share: number;
  /** The lifetime total, in ms (see {@linkcode CpuLimits.totalMs}). */
  totalMs?: number;
  /** The most tasks the plugin asked for ({@linkcode CpuLimits.maxTasks}), if it asked. */
  maxTasks?: number;
  /** Who holds the rate: a kernel cgroup, plugbox's watchdog, or nobody (no `sh` here). */
  rate: "cgroup-v1" | "cgroup-v2" | "watchdog" | "none";
  /** The plugin's own cgroup, made and joined by its prologue, removed after it exits. */
  cgroup?: {
    dir: string;
    version: 1 | 2;
    quotaUs: number;
    periodUs: number;
    /**
     * The plugin's v1 memory cgroup (where plugbox may make one): every
     * process of the plugin together holds at most `memoryBytes`.
     */
    memoryDir?: string;
    /** The memory cgroup's limit: the plugin's writable memory cap, set by the launch. */
    memoryBytes?: number;
    /**
     * The cap of its sockets' TCP and UDP buffers (`memory.kmem.tcp`), `memoryBytes` unless
     * given: the plugin's own cap where the cgroup holds more for plugbox's relay (review 162).
     */
    socketBytes?: number;
    /**
     * The plugin's own memory cgroup inside `memoryDir`, where plugbox's egress relay runs in
     * its sandbox: the relay stays in `memoryDir`, the launcher moves itself here just before it
     * becomes the plugin, and what the plugin and every process it makes hold together is held
     * here to `pluginMemoryBytes`; `memoryDir` holds that and the relay's memory (review 163).
     */
    pluginMemoryDir?: string;
    /** The limit of `pluginMemoryDir`: the plugin's cap (and its sockets' buffers' cap). */
    pluginMemoryBytes?: number;
    /** The plugin's v1 pids cgroup: at most `pidsMax` processes and threads together. */
    pidsDir?: string;
    /**
     * The pids cgroup's limit ({@linkcode CpuLimits.maxTasks}); unset, the prologue gives
     * the plugin its share of the budget every plugin shares (prologue.ts, `TASK_SHARES`).
     */
    pidsMax?: number;
    /**
     * The plugin's v1 cpuacct cgroup: the watchdog reads the tree's CPU time
     * from its `cpuacct.usage`, one file, however many threads there are.
     */
    cpuacctDir?: string;
  };
  /** RLIMIT_CPU in seconds: a kernel backstop a little past the total. */
  rlimitSeconds?: number;
  /** The shell the watchdog reads `/proc` through. */
  sh?: string;
}

/**
 * The plan with the plugin's own memory cgroup inside its memory cgroup, for a start whose
 * sandbox runs the egress relay beside the plugin; as it was without a memory cgroup.
 *
 * @example
 * ```ts ignore
 * const cpu = egress.relay ? withPluginMemory(plan) : plan;
 * ```
 */
export function withPluginMemory(plan: CpuPlan): CpuPlan {
  const memoryDir = plan.cgroup?.memoryDir;
  if (!memoryDir) return plan;
  return {
    ...plan,
    cgroup: { ...plan.cgroup!, pluginMemoryDir: join(memoryDir, PLUGIN_MEMORY_NAME) },
  };
}

let machineShare: number | undefined;

/**
 * A plugin's share of the machine's tasks where no pids cgroup holds it (a
 * host not root, under bubblewrap: RLIMIT_NPROC in its user namespace, see
 * `GO_STEP` in layers.ts): 1/{@linkcode TASK_SHARES} of half of the fewer of
 * `kernel.pid_max` and `threads-max`, from {@linkcode TASK_FLOOR} to
 * {@linkcode TASK_CEILING}, as a root host's pids cgroup gives it (64 where
 * pid_max is 32,768). Where this process may not read them (fail narrow),
 * {@linkcode TASK_FLOOR}. Read once per process.
 */
export function machineTaskShare(): number {
  if (machineShare !== undefined) return machineShare;
  const read = (path: string) => {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return NaN;
    try {
      return Number(Deno.readTextFileSync(path).trim());
    } catch {
      return NaN;
    }
  };
  const most = Math.min(read("/proc/sys/kernel/pid_max"), read("/proc/sys/kernel/threads-max"));
  const share = Math.floor(Math.floor(most / 2) / TASK_SHARES);
  machineShare = Number.isSafeInteger(share)
    ? Math.min(TASK_CEILING, Math.max(TASK_FLOOR, share))
    : TASK_FLOOR;
  return machineShare;
}

/** The scheduler period plugbox uses for cgroup quotas, in microseconds. */
export const CPU_PERIOD_US = 100_000;

function checkLimits(
  cpu: CpuLimits | undefined,
): { share: number; totalMs?: number; maxTasks?: number } {
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
  const tasks = cpu?.maxTasks;
  if (tasks !== undefined && !(Number.isSafeInteger(tasks) && tasks >= 1 && tasks <= PIDS_MAX)) {
    throw new TypeError(
      `Cannot start plugin: "cpu.maxTasks" must be a whole number from 1 to ${PIDS_MAX}, got ${tasks}`,
    );
  }
  return { share, totalMs: total, maxTasks: tasks };
}

/**
 * Plans a start's CPU budget: validates it and finds who can hold the rate.
 * Without `sh` neither a cgroup nor the watchdog can: the plan says so, and
 * only `RLIMIT_CPU` holds a total (per process).
 */
export async function planCpu(
  cpu: CpuLimits | undefined,
  id: string,
  notes: string[],
  shell: string | undefined,
): Promise<CpuPlan> {
  const { share, totalMs, maxTasks } = checkLimits(cpu);
  const rlimitSeconds = totalMs === undefined ? undefined : Math.ceil(totalMs / 1000) + 2;
  if (!shell) {
    notes.push(`missing hardening: no CPU share or total held (sh was not found)`);
    return { share, totalMs, maxTasks, rate: "none", rlimitSeconds };
  }
  const all = await findControllers(shell);
  const found = all?.cpu;
  const quotaUs = Math.max(1000, Math.round(share * CPU_PERIOD_US));
  const name = cgroupName(id);
  const cgroup = found && {
    dir: join(found.base, name),
    version: found.version,
    quotaUs,
    periodUs: CPU_PERIOD_US,
    ...(all?.memory ? { memoryDir: join(all.memory, name) } : {}),
    ...(all?.pids ? { pidsDir: join(all.pids, name), pidsMax: maxTasks } : {}),
    ...(all?.cpuacct ? { cpuacctDir: join(all.cpuacct, name) } : {}),
  };
  const rate = found ? (found.version === 1 ? "cgroup-v1" : "cgroup-v2") : "watchdog";
  notes.push(
    found
      ? `cpu: ${share} core(s) held by a cgroup (v${found.version} cpu controller)`
      : `cpu: ${share} core(s) held by plugbox's watchdog (no writable CPU cgroup here)`,
  );
  return { share, totalMs, maxTasks, rate, cgroup, rlimitSeconds, sh: shell };
}

// $1: the memory cgroup and $2 the plugin's own inside it ("" where the plan has none), whose
// oom_kill counts are printed (the first not 0, else 0) before anything is removed; $3 to $7: the
// cgroups to remove, "" where the plan has none, the plugin's own memory cgroup before the one that
// holds it. One rmdir for them all, in order; only while one still holds a process does it kill
// what it holds (see killMembers) and retry (sleep is a program too). Prints "left <folder>" for
// each it could not remove.
const CLOSE = `oom=0
for m in "$1" "$2"; do
  [ -n "$m" ] || continue
  while read -r k v; do [ "$k" = oom_kill ] && [ "$oom" = 0 ] && oom=$v; done < "$m/memory.oom_control"
done
echo "$oom"
shift 2
for i in 1 2 3 4 5 6 7 8 9 10; do
  set -- \${1:+"$1"} \${2:+"$2"} \${3:+"$3"} \${4:+"$4"} \${5:+"$5"}
  left=; for d in "$@"; do [ -d "$d" ] && left=1; done
  [ -z "$left" ] && exit 0
  rmdir -- "$@" 2>/dev/null
  left=; for d in "$@"; do [ -d "$d" ] && left=1; done
  [ -z "$left" ] && exit 0
  for d in "$@"; do
    ${KILL_MEMBERS_SH}
  done 2>/dev/null
  sleep 0.05
done
for d in "$@"; do [ -d "$d" ] && echo "left $d"; done
exit 1`;

/** The plugin's cgroup folders its plan has. */
function cgroupDirs(cgroup: NonNullable<CpuPlan["cgroup"]>): string[] {
  const { dir, memoryDir, pluginMemoryDir, pidsDir, cpuacctDir } = cgroup;
  // The plugin's own memory cgroup first: the one that holds it can be removed only after it.
  return [pluginMemoryDir, dir, memoryDir, pidsDir, cpuacctDir]
    .filter((d): d is string => d !== undefined);
}

/** The OOM counts of a plan's memory cgroups: the plugin's own, then the one that holds it. */
function oomFiles(cgroup: NonNullable<CpuPlan["cgroup"]>): string[] {
  return [cgroup.pluginMemoryDir, cgroup.memoryDir].filter((d): d is string => d !== undefined)
    .map((d) => `${d}/memory.oom_control`);
}

/**
 * Whether this process's own Deno permissions grant `name` on every one of a plugin's cgroup
 * folders, without a prompt: asked of the folders they are made in, which every start shares (a
 * grant on a folder is one on what it holds). Deno keeps each query's answer for the process's
 * life, keyed by its path, so queries of each start's own folders kept about 4 KB of the host a
 * start, for as long as the host ran (review 138). Where Deno refuses a step after all, each use
 * already falls back to the shell.
 */
function granted(name: "read" | "write", dirs: string[]): boolean {
  return [...new Set(dirs.map((dir) => dirname(dir)))]
    .every((path) => Deno.permissions.querySync({ name, path }).state === "granted");
}

/**
 * Makes the plugin's cgroups from the host, where the host's own Deno
 * permissions let it write them: the prologue then finds them made and runs
 * no `mkdir` (a program is 3 to 5 ms of every start here). Where they do
 * not, or a folder cannot be made, the prologue makes them as before.
 *
 * @example
 * ```ts ignore
 * makeCgroups(plan.cpu); // just before the spawn; close with closeCgroups(plan.cpu)
 * ```
 */
export function makeCgroups(plan: CpuPlan): void {
  if (!plan.cgroup) return;
  const dirs = cgroupDirs(plan.cgroup);
  if (!granted("write", dirs)) return;
  try {
    for (const dir of dirs) Deno.mkdirSync(dir, { recursive: true });
  } catch {
    // The prologue makes what is missing, and says so if it cannot.
  }
}

/** What closing a plugin's cgroups found. */
export interface ClosedCgroups {
  /** The kernel's OOM killer ended a process in the plugin's memory cgroup. */
  oomKilled: boolean;
  /**
   * Cgroups that could not be removed: a process in them outlived every
   * SIGKILL for half a second (one stuck in the kernel, or frozen).
   */
  left: string[];
}

/**
 * Once the plugin's processes are gone: reads whether the kernel's OOM
 * killer ended one of them (the memory cgroups' `oom_kill` counts, read
 * before they are removed: the kernel counts a kill in the cgroup of the
 * process it ended, so a plugin's in its own memory cgroup where the relay
 * runs beside it, and the relay's in the one that holds both), then removes
 * the plugin's cgroups (the kernel may still be emptying them), killing
 * whatever they still hold. In the host's own process where its Deno
 * permissions allow; else one shell for both, on every stop.
 */
export async function closeCgroups(plan: CpuPlan): Promise<ClosedCgroups> {
  if (!plan.cgroup || !plan.sh) return { oomKilled: false, left: [] };
  const { memoryDir = "", pluginMemoryDir = "" } = plan.cgroup;
  const dirs = cgroupDirs(plan.cgroup);
  // The memory cgroups' folders are among dirs: reading them is reading their OOM counts.
  const here = granted("write", dirs) && granted("read", dirs)
    ? await closeHere(oomFiles(plan.cgroup), dirs)
    : undefined;
  if (here?.removed) return removeLater(plan.sh, { oomKilled: here.oomKilled, left: here.left });
  const [a = "", b = "", c = "", d = "", e = ""] = dirs;
  const ran = await runScript(plan.sh, CLOSE, [memoryDir, pluginMemoryDir, a, b, c, d, e]);
  const lines = ran?.stdout.split("\n") ?? [];
  return removeLater(plan.sh, {
    // A count read here stands even if the shell then finds the memory cgroup gone.
    oomKilled: here?.oomKilled === true || /^[1-9][0-9]*$/.test(lines[0] ?? ""),
    left: leftNamed(lines, dirs),
  });
}

/**
 * The folders {@linkcode CLOSE}'s output says it left (`left <folder>`), of
 * `dirs` only: the shell's output is its own, but what it names is compared.
 */
function leftNamed(lines: string[], dirs: string[]): string[] {
  return lines.filter((line) => line.startsWith("left ")).map((line) => line.slice(5))
    .filter((path) => dirs.includes(path));
}

/** The waits between tries to remove cgroups a stop had to leave; the last one repeats. */
const RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/** How many tries after the stop's own: about an hour. */
const RETRIES = 64;

/**
 * Keeps trying, in the background, to remove the cgroups `closed` names as
 * left: the process that kept them (stuck in the kernel, or frozen) may end
 * later, and its cgroups would otherwise stay until the host is gone (the
 * next host's probe sweeps only empty ones). Each try kills what they hold
 * first, as the stop did. The timers do not keep the host alive.
 */
function removeLater(sh: string, closed: ClosedCgroups, attempt = 0): ClosedCgroups {
  if (closed.left.length === 0 || attempt >= RETRIES) return closed;
  const timer = setTimeout(async () => {
    const { left } = await removeLeft(sh, closed.left).catch(() => closed);
    removeLater(sh, { oomKilled: false, left }, attempt + 1);
  }, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
  Deno.unrefTimer(timer);
  return closed;
}

/** One more try at removing `dirs` (killing what they hold first): the folders still there. */
async function removeLeft(sh: string, dirs: string[]): Promise<ClosedCgroups> {
  const here = granted("write", dirs) && granted("read", dirs)
    ? await removeCgroups(dirs)
    : undefined;
  if (here) return { oomKilled: false, left: here };
  const [a = "", b = "", c = "", d = "", e = ""] = dirs;
  const ran = await runScript(sh, CLOSE, ["", "", a, b, c, d, e]);
  return { oomKilled: false, left: ran ? leftNamed(ran.stdout.split("\n"), dirs) : dirs };
}

/**
 * Reads the OOM count and removes the cgroups in this process. Undefined
 * where Deno refuses the read after all (it wants `--allow-all` for some of
 * `/sys`, whatever a permission query says), `removed: false` where it
 * refuses a removal: the shell then does the rest.
 */
async function closeHere(
  files: string[],
  dirs: string[],
): Promise<{ oomKilled: boolean; removed: boolean; left: string[] } | undefined> {
  let oomKilled = false;
  for (const file of files) {
    try {
      const count = /^oom_kill (\S+)$/m.exec(await Deno.readTextFile(file))?.[1] ?? "";
      oomKilled ||= /^[1-9][0-9]*$/.test(count);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return undefined;
    }
  }
  const left = await removeCgroups(dirs);
  return { oomKilled, removed: left !== undefined, left: left ?? [] };
}

/**
 * Whether the memory cgroup's OOM killer has ended a process of the plugin,
 * read now and without yielding where this process may read the count: so
 * the first report of an exit (its calls' errors) says `"out-of-memory"` as
 * {@linkcode closeCgroups}' later one does. False without a memory cgroup;
 * `undefined` where this process cannot read the count (the cgroups' close
 * reads it by the shell then, review 83).
 *
 * @example
 * ```ts ignore
 * const oom = status.reason === "exited" ? oomKilledNow(plan.cpu) : false;
 * ```
 */
export function oomKilledNow(plan: CpuPlan): boolean | undefined {
  const memoryDir = plan.cgroup?.memoryDir;
  if (!memoryDir) return false;
  if (!granted("read", [memoryDir])) return undefined;
  for (const file of oomFiles(plan.cgroup!)) {
    try {
      if (/^oom_kill [1-9][0-9]*$/m.test(Deno.readTextFileSync(file))) return true;
    } catch (error) {
      // Gone (or never made): no OOM kill to tell of. Refused after all: the close's shell reads it.
      if (error instanceof Deno.errors.NotFound) continue;
      return undefined;
    }
  }
  return false;
}

/**
 * SIGKILLs what the plugin's cgroups hold, now and without yielding, where
 * this process may read them: for exit paths that cannot await (a host's
 * `killNow()`). A child that left the plugin's process tree (its parent
 * exited) is in neither its group nor its tree, only in its cgroups; the
 * stop's {@linkcode closeCgroups} would find it, on a later turn an exit
 * path never gives.
 *
 * @example
 * ```ts ignore
 * killCgroupsNow(plan.cpu); // beside the process tree's SIGKILL
 * ```
 */
export function killCgroupsNow(plan: CpuPlan): void {
  if (!plan.cgroup) return;
  const dirs = cgroupDirs(plan.cgroup);
  if (granted("read", dirs)) killMembers(dirs);
}

/**
 * Removes `dirs`, retrying (at most 10 times, 50 ms apart) while one still
 * holds a process, each of which is killed first ({@linkcode killMembers}):
 * the folders left after that. Undefined at once if this process may not
 * remove them or kill what they hold.
 */
async function removeCgroups(dirs: string[]): Promise<string[] | undefined> {
  let left = dirs;
  for (let attempt = 0; attempt < 10 && left.length > 0; attempt++) {
    if (attempt > 0) {
      if (!killMembers(left)) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const refused: unknown[] = [];
    const remove = (list: string[]) =>
      Promise.all(list.map((dir) =>
        Deno.remove(dir).then(() => undefined, (error) => {
          if (error instanceof Deno.errors.NotFound) return undefined;
          if (
            error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
          ) {
            refused.push(error);
          }
          return dir;
        })
      ));
    // A cgroup inside another of them (the plugin's own memory cgroup) first: until it is gone,
    // the one that holds it cannot be removed.
    const inner = left.filter((dir) => left.some((other) => dir.startsWith(`${other}/`)));
    const kept = [
      ...await remove(inner),
      ...await remove(left.filter((dir) => !inner.includes(dir))),
    ];
    if (refused.length > 0) return undefined;
    left = kept.filter((dir): dir is string => dir !== undefined);
  }
  return left;
}
