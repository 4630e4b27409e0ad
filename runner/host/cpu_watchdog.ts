/**
 * The host's watch on a plugin's CPU time: every process in the plugin's
 * tree (the spawned process and all its descendants), all threads
 * included, read through a {@linkcode ProcReader}. It ends a plugin that
 * used up its total, and where no cgroup holds the rate, it holds it: a tree
 * that used more than its share since the last look has its busy processes
 * paused (SIGSTOP) until its average is back at the share, then resumed
 * (SIGCONT).
 * @module
 */

import { ProcReader } from "./proc_reader.ts";
import { childrenOf } from "../sandbox/mod.ts";

/** Options for {@linkcode CpuWatchdog}. */
export interface CpuWatchdogOptions {
  /** The shell the process reader runs in. */
  sh: string;
  /** Lifetime CPU budget in ms; called `onExceeded` when used up. */
  totalMs?: number;
  /** The share of one core to hold by pausing, when no cgroup holds it. */
  share?: number;
  /**
   * How often to look, in ms.
   * @default {100}
   */
  intervalMs?: number;
  /**
   * Called once, when the total is used up, or when the tree can no longer
   * be read while it lives (fail closed: the plugin is ended).
   */
  onExceeded: (usedMs: number) => void;
  /**
   * The plugin's cgroup `cpuacct.usage`: read instead of walking the tree
   * once it exists (one file, however many threads), when no share is held
   * here. Once seen, a file that can no longer be read ends the plugin.
   */
  usageFile?: string;
  /**
   * The root is bubblewrap: it and its child (the sandbox's reaper) are never
   * paused or resumed here. A kill stops bubblewrap and the exit watch the
   * reaper (`proc_tree.ts`); a SIGCONT from here must not undo either.
   */
  sandboxed?: boolean;
}

const sum = (cpu: Map<number, number>) => [...cpu.values()].reduce((a, b) => a + b, 0);

/**
 * Watches one plugin's process tree until {@linkcode CpuWatchdog.stop}.
 *
 * @example
 * ```ts ignore
 * const watch = new CpuWatchdog(child.pid, {
 *   sh: "/usr/bin/sh",
 *   totalMs: 5_000,
 *   onExceeded: () => child.kill("SIGKILL"),
 * });
 * await child.status;
 * await watch.stop();
 * ```
 */
export class CpuWatchdog {
  #root: number;
  #options: CpuWatchdogOptions;
  #reader: ProcReader;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: { at: number; cpu: Map<number, number> } | undefined;
  #paused: number[] = [];
  #used = 0;
  #stopped = false;
  #ticking: Promise<void> = Promise.resolve();
  #usageSeen = false;

  constructor(root: number, options: CpuWatchdogOptions) {
    this.#root = root;
    this.#options = options;
    this.#reader = new ProcReader(options.sh);
    this.#ticking = this.#tick(); // the first look: what the tree has used so far
  }

  /** CPU time used by the tree at the last look, in ms. */
  get usedMs(): number {
    return this.#used;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#ticking = this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    try {
      await this.#reader.signal(this.#paused.splice(0), "SIGCONT");
      const now = performance.now();
      const cpu = await this.#measure();
      if (this.#stopped) return;
      this.#used = Math.max(this.#used, sum(cpu));
      const { totalMs, share } = this.#options;
      if (totalMs !== undefined && this.#used >= totalMs) {
        this.#stopped = true;
        this.#options.onExceeded(this.#used);
        return;
      }
      const pauseMs = share === undefined ? 0 : await this.#hold(share, now, cpu);
      this.#last = { at: now + pauseMs, cpu };
      this.#schedule(Math.max(this.#options.intervalMs ?? 100, pauseMs));
    } catch {
      // The reader failed or ended while the plugin lives (stop() sets #stopped first): a plugin
      // must never switch its budget off, so this fails closed, through the one kill path.
      if (this.#stopped) return;
      this.#stopped = true;
      this.#options.onExceeded(this.#used);
    }
  }

  /** The tree's CPU time: its cgroup's, once the prologue has made it, else each process's. */
  async #measure(): Promise<Map<number, number>> {
    const { usageFile, share } = this.#options;
    if (usageFile !== undefined && share === undefined) {
      const ms = await this.#reader.usage(usageFile);
      if (ms !== undefined) {
        this.#usageSeen = true;
        return new Map([[this.#root, ms]]);
      }
      if (this.#usageSeen) throw new Error("the plugin's cpuacct cgroup went away");
    }
    return await this.#reader.tree(this.#root);
  }

  /** Pauses the busy processes for as long as their use since the last look exceeds the share. */
  async #hold(share: number, now: number, cpu: Map<number, number>): Promise<number> {
    const last = this.#last;
    if (!last) return 0;
    let delta = 0;
    const busy: number[] = [];
    const spared = this.#options.sandboxed
      ? new Set([this.#root, ...childrenOf(this.#root)])
      : new Set<number>();
    for (const [pid, ms] of cpu) {
      const grew = ms - (last.cpu.get(pid) ?? 0);
      // Only processes that ran: a sandbox's idle helpers stay, and bubblewrap and its reaper always.
      if (grew > 0 && !spared.has(pid)) busy.push(pid);
      delta += Math.max(0, grew);
    }
    const allowed = share * Math.max(0, now - last.at);
    if (delta <= allowed) return 0;
    this.#paused = busy;
    await this.#reader.signal(busy, "SIGSTOP");
    return Math.min(5_000, (delta - allowed) / share);
  }

  /** Stops watching, resumes anything it paused and ends the reader. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    await this.#reader.signal(this.#paused.splice(0), "SIGCONT").catch(() => {});
    await this.#reader.close();
  }
}
