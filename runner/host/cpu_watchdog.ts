/**
 * The host's watch on a plugin's CPU time: every process in the plugin's
 * tree (the spawned process and all its descendants, read from `/proc`),
 * all threads included. It ends a plugin that used up its total, and where
 * no cgroup holds the rate, it holds it: a tree that used more than its
 * share since the last look is paused (SIGSTOP) until its average is back
 * at the share, then resumed (SIGCONT).
 * @module
 */

/** Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/** utime + stime + cutime + cstime of one process, in ms; undefined once gone. */
function cpuOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is the state: utime is field 14 of the whole line, here index 11.
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) *
      TICK_MS;
  } catch {
    return undefined;
  }
}

/** The process and its descendants (children of every thread), breadth first, bounded. */
export function processTree(root: number, max = 4096): number[] {
  const found = [root];
  for (let i = 0; i < found.length && found.length < max; i++) {
    let tasks: string[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${found[i]}/task`)].map((t) => t.name);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = Deno.readTextFileSync(`/proc/${found[i]}/task/${task}/children`);
        for (const child of children.trim().split(/\s+/).filter(Boolean)) found.push(Number(child));
      } catch {
        // gone meanwhile
      }
    }
  }
  return found;
}

/** CPU time, in ms, used so far by a process tree (finished children counted by their parents). */
export function treeCpuMs(root: number): { total: number; byPid: Map<number, number> } {
  const byPid = new Map<number, number>();
  let total = 0;
  for (const pid of processTree(root)) {
    const ms = cpuOf(pid);
    if (ms === undefined) continue;
    byPid.set(pid, ms);
    total += ms;
  }
  return { total, byPid };
}

/**
 * Sends a signal to processes. `Deno.kill` on another process needs an
 * unscoped `--allow-run`; a host with a narrower one has plugbox use the
 * `kill` program instead (`--allow-run=kill`).
 */
function signal(pids: number[], sig: "SIGSTOP" | "SIGCONT"): void {
  if (pids.length === 0) return;
  for (const [i, pid] of pids.entries()) {
    try {
      Deno.kill(pid, sig);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) continue; // gone
      const rest = pids.slice(i).map(String);
      new Deno.Command("kill", {
        args: [`-${sig.slice(3)}`, ...rest],
        stderr: "null",
        stdout: "null",
      })
        .spawn().status.catch(() => {});
      return;
    }
  }
}

/** Options for {@linkcode CpuWatchdog}. */
export interface CpuWatchdogOptions {
  /** Lifetime CPU budget in ms; called `onExceeded` when used up. */
  totalMs?: number;
  /** The share of one core to hold by pausing, when no cgroup holds it. */
  share?: number;
  /**
   * How often to look, in ms.
   * @default {100}
   */
  intervalMs?: number;
  /** Called once, when the total is used up. */
  onExceeded: (usedMs: number) => void;
}

/**
 * Watches one plugin's process tree until {@linkcode CpuWatchdog.stop}.
 *
 * @example
 * ```ts ignore
 * const watch = new CpuWatchdog(child.pid, { totalMs: 5_000, onExceeded: () => child.kill("SIGKILL") });
 * await child.status;
 * watch.stop();
 * ```
 */
export class CpuWatchdog {
  #root: number;
  #options: CpuWatchdogOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: { at: number; byPid: Map<number, number> } | undefined;
  #paused: number[] = [];
  #used = 0;
  #stopped = false;

  constructor(root: number, options: CpuWatchdogOptions) {
    this.#root = root;
    this.#options = options;
    this.#schedule(options.intervalMs ?? 100);
  }

  /** CPU time used by the tree at the last look, in ms. */
  get usedMs(): number {
    return this.#used;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#tick(), ms);
  }

  #tick(): void {
    this.#resume();
    const now = performance.now();
    const { total, byPid } = treeCpuMs(this.#root);
    this.#used = Math.max(this.#used, total);
    const { totalMs, share } = this.#options;
    if (totalMs !== undefined && total >= totalMs) {
      this.stop();
      this.#options.onExceeded(total);
      return;
    }
    let pauseMs = 0;
    if (share !== undefined && this.#last) {
      let delta = 0;
      for (const [pid, ms] of byPid) delta += Math.max(0, ms - (this.#last.byPid.get(pid) ?? 0));
      const allowed = share * (now - this.#last.at);
      if (delta > allowed) {
        pauseMs = Math.min(5_000, (delta - allowed) / share);
        // Only processes that ran: a sandbox's idle helpers are left alone.
        const busy = [...byPid].filter(([pid, ms]) => ms > (this.#last!.byPid.get(pid) ?? 0));
        this.#pause(busy.map(([pid]) => pid));
      }
    }
    this.#last = { at: now + pauseMs, byPid };
    this.#schedule(Math.max(this.#options.intervalMs ?? 100, pauseMs));
  }

  #pause(pids: number[]): void {
    this.#paused.push(...pids);
    signal(pids, "SIGSTOP");
  }

  #resume(): void {
    signal(this.#paused.splice(0), "SIGCONT");
  }

  /** Stops watching and resumes anything it paused. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#resume();
  }
}
