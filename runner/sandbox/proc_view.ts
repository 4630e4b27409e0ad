/**
 * Whether this host can see a sandbox being armed: the OS layer's go
 * (`GO_STEP` in layers.ts) waits until the host has seen bubblewrap's
 * reaper wait, which it reads in `/proc`. Deno opens `/proc/<pid>` only to
 * `--allow-all`, and a kernel may lack a task's `children` list
 * (`CONFIG_PROC_CHILDREN`) or show every task's `wchan` as `0`. Where it
 * cannot see, the go is sent at once, and the plan says what that leaves.
 * @module
 */

/**
 * A file's text, or undefined when it cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readText } from "./proc_view.ts";
 * assert.equal(readText("/nonexistent"), undefined);
 * ```
 */
export function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The fields of a `stat` file after the command name (the state first), or
 * undefined once it is gone. The name may hold spaces and `)`: it ends at
 * the last `)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statAt } from "./proc_view.ts";
 * assert.equal(statAt("/proc/thread-self/stat")?.[0], "R"); // this thread, reading: running
 * ```
 */
export function statAt(path: string): string[] | undefined {
  const stat = readText(path);
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

let shown = false;

/**
 * Whether this process may read, and the kernel shows, a task's children
 * and where a sleeping task waits: asked of this process's own threads
 * (`self`, a `/proc/<pid>` folder), some of which always sleep. A yes is
 * kept for the process; a no is asked again next time.
 *
 * @example
 * ```ts
 * import { kernelShowsWaits } from "./proc_view.ts";
 * console.log(kernelShowsWaits() ? "the go waits for the sandbox" : "the go is sent at once");
 * ```
 */
export function kernelShowsWaits(self = "/proc/self"): boolean {
  const ours = self === "/proc/self";
  if (ours && shown) return true;
  let tasks: string[];
  try {
    tasks = [...Deno.readDirSync(`${self}/task`)].map((task) => task.name);
  } catch {
    return false; // no /proc to read
  }
  if (tasks.length === 0 || readText(`${self}/task/${tasks[0]}/children`) === undefined) {
    return false;
  }
  for (const task of tasks) {
    const state = statAt(`${self}/task/${task}/stat`)?.[0];
    const wchan = readText(`${self}/task/${task}/wchan`);
    if (state === "S" && wchan && wchan !== "0") {
      if (ours) shown = true;
      return true;
    }
  }
  return false;
}

/**
 * Whether this host can see the sandbox's reaper armed (so the go waits for
 * it): the kernel shows waits, and the reaper is the host's to read. A
 * set-UID bubblewrap leaves its reaper unreadable to a host that is not
 * root, and the go is then sent at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reaperSeen } from "./proc_view.ts";
 * assert.equal(reaperSeen({ bwrapSetuid: true }, false), false);
 * ```
 */
export function reaperSeen(tools: { bwrapSetuid?: boolean }, hostIsRoot: boolean): boolean {
  if (tools.bwrapSetuid && !hostIsRoot) return false;
  return kernelShowsWaits();
}
