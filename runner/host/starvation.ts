/**
 * Whether two missed health pings were the plugin's fault. A thousand
 * plugins called at once on two cores each wait seconds for a CPU, and so
 * does the host that reads their answers: pings go unanswered, or answered
 * but unread, while nothing is wrong, and killing those plugins adds a
 * thousand restarts to the load. The kernel keeps, per thread, how long it
 * ran and how long it waited runnable for a CPU (`/proc/PID/task/TID/schedstat`).
 * A plugin stuck in a loop runs; one blocked waits for nothing; one starved
 * waits runnable and hardly runs; a host starved waits runnable too. Only
 * starvation is excused, and only for a bounded number of windows in a
 * row: a verdict holds in the view it was made in, and a later window
 * judges afresh.
 * @module
 */

import { ProcReader } from "./proc_reader.ts";

/** A reading of CPU times, in ms: the plugin's process tree (every thread) and the host's main thread. */
export interface SchedTimes {
  /** When it was read (`Date.now()`). */
  at: number;
  /**
   * ms of CPU the plugin used: its cgroup's `cpuacct.usage` where it has one
   * (every task that was ever in it, reaped or not), else summed over its
   * live tree (each process's own and its waited-for children's).
   */
  runMs: number;
  /** ms its live threads waited runnable for a CPU (counted once each ran again). */
  waitMs: number;
  /** The plugin's threads runnable (running, or waiting for a CPU) when it was read. */
  runnable: number;
  /** ms the host's main thread (its event loop, which reads the answers) waited runnable for a CPU. */
  hostWaitMs: number;
  /** ms the shell spent on this reading once its turn came (its wait behind other plugins' readings left out). */
  readMs: number;
}

/** Excused windows in a row before a plugin that still does not answer is killed anyway. */
export const MAX_STARVED_WINDOWS = 3;

/**
 * Who was starved of CPU over the window between two readings, if anyone:
 * the `host` when its event loop waited runnable for at least a quarter of
 * the window (an answer may have waited unread); the `plugin` when it
 * hardly ran (at most a tenth of the window) yet wanted to: it waited
 * runnable for at least half of it, or a thread of it is runnable still
 * (the kernel counts a wait only once the thread runs again, so one starved
 * throughout shows no wait yet). A loop runs; a blocked plugin is not
 * runnable. A loop on a CPU shared with n others runs about 1/n of the
 * time, so it passes as starved only when more than ten things want each
 * CPU; {@linkcode MAX_STARVED_WINDOWS} bounds even that. With a CPU
 * `share` below one core, "hardly ran" is a tenth of what the share allows:
 * a loop its own quota throttles waits runnable too, and runs its share.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { starvedSide } from "./starvation.ts";
 * const before = { at: 0, runMs: 100, waitMs: 0, runnable: 0, hostWaitMs: 0, readMs: 1 };
 * const after = { ...before, at: 5000 };
 * assert.equal(starvedSide(before, { ...after, runMs: 105, waitMs: 4800 }), "plugin");
 * assert.equal(starvedSide(before, { ...after, runMs: 101, runnable: 1 }), "plugin");
 * assert.equal(starvedSide(before, { ...after, hostWaitMs: 2000 }), "host");
 * assert.equal(starvedSide(before, { ...after, runMs: 5100, runnable: 1 }), undefined); // a loop
 * assert.equal(starvedSide(before, after), undefined); // blocked
 * ```
 */
export function starvedSide(
  before: SchedTimes,
  after: SchedTimes,
  share = 1,
): "plugin" | "host" | undefined {
  const windowMs = after.at - before.at;
  if (windowMs <= 0) return undefined;
  if (after.hostWaitMs - before.hostWaitMs >= windowMs / 4) return "host";
  const ran = after.runMs - before.runMs;
  // CPU time that went down was lost from view (a process left the tree unwaited): no verdict.
  if (ran < 0) return undefined;
  const wanted = after.waitMs - before.waitMs >= windowMs / 2 || after.runnable > 0;
  // "Hardly" is of what it may use: a loop held to a share of 0.05 runs 5 % and waits the rest.
  return ran <= windowMs * Math.min(1, share) / 10 && wanted ? "plugin" : undefined;
}

const readers = new Map<string, { reader: ProcReader; users: number }>();

/**
 * Reads the CPU times of every process in the tree rooted at `root` and of
 * the host's main thread, through a shell shared while anyone reads (closed
 * when the last is done, so no process outlives the question). With
 * `usageFile` (the plugin's cgroup `cpuacct.usage`) the run time is read
 * there: a tree's sum loses the time of a child reaped unwaited (SIGCHLD
 * ignored) or moved out of the tree, so a plugin burning CPU in short-lived
 * children would read as one that hardly ran. Undefined where they cannot
 * be read (no `/proc`, no shell, the file gone): the caller then counts the
 * miss.
 *
 * @example
 * ```ts ignore
 * const before = await schedTimes("/usr/bin/sh", plugin.pid);
 * ```
 */
export async function schedTimes(
  sh: string,
  root: number,
  usageFile?: string,
): Promise<SchedTimes | undefined> {
  let shared = readers.get(sh);
  if (!shared) readers.set(sh, shared = { reader: new ProcReader(sh), users: 0 });
  shared.users++;
  try {
    const spent = { ms: 0 };
    const tree = await shared.reader.tree(root, spent);
    if (tree.size === 0) return undefined;
    const plugin = await shared.reader.sched([...tree.keys()], "all", spent);
    const host = await shared.reader.sched([Deno.pid], "main", spent);
    const runMs = usageFile === undefined
      ? [...tree.values()].reduce((sum, ms) => sum + ms, 0)
      : await shared.reader.usage(usageFile, spent);
    if (runMs === undefined) return undefined;
    return { at: Date.now(), runMs, ...plugin, hostWaitMs: host.waitMs, readMs: spent.ms };
  } catch {
    return undefined;
  } finally {
    if (--shared.users === 0) {
      readers.delete(sh);
      await shared.reader.close();
    }
  }
}

/**
 * `reading`, or `"late"` when it took the shell more than `ms` of its own
 * time, or when `ms × 10` pass first. A reading walks every thread and
 * process of the plugin's tree through one shell shared by all plugins; a
 * plugin must not buy itself time by being slow to read (1,000 threads take
 * most of a second): a late reading gives no verdict, and the miss counts.
 * Only the shell's own time on this plugin is held against it: behind a
 * thousand other plugins' readings, on an overloaded machine, the wait in
 * line is not the plugin's doing, and the outer bound only keeps the round
 * finite. The reading itself goes on to its end (the shell closes after it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readWithin } from "./starvation.ts";
 * assert.equal(await readWithin(new Promise<undefined>(() => {}), 1), "late");
 * assert.deepEqual(await readWithin(Promise.resolve({ readMs: 5 }), 10), { readMs: 5 });
 * assert.equal(await readWithin(Promise.resolve({ readMs: 50 }), 10), "late");
 * ```
 */
export async function readWithin<T extends { readMs: number } | undefined>(
  reading: Promise<T>,
  ms: number,
): Promise<T | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms * 10));
  try {
    const read = await Promise.race([reading, late]);
    return read !== "late" && read !== undefined && read.readMs > ms ? "late" : read;
  } finally {
    clearTimeout(timer);
  }
}
