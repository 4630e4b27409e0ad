/**
 * Whether this host can see a sandbox being armed: the OS layer's go
 * (`GO_STEP` in layers.ts) waits until the host has seen bubblewrap's
 * reaper wait, which it reads in `/proc`. Deno opens `/proc/<pid>` only to
 * `--allow-all`, and a kernel may lack a task's `children` list
 * (`CONFIG_PROC_CHILDREN`) or show every task's `wchan` as `0`. Where it
 * cannot see, the go is sent at once, and the plan says what that leaves.
 * @module
 */

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

let shown: boolean | undefined;

/**
 * Whether this process may read, and the kernel shows, a task's children
 * and where a sleeping task waits. Asked once, of this process's own
 * threads, some of which always sleep.
 *
 * @example
 * ```ts
 * import { kernelShowsWaits } from "./proc_view.ts";
 * console.log(kernelShowsWaits() ? "the go waits for the sandbox" : "the go is sent at once");
 * ```
 */
export function kernelShowsWaits(): boolean {
  if (shown !== undefined) return shown;
  shown = false;
  const self = `/proc/${Deno.pid}/task`;
  if (readText(`${self}/${Deno.pid}/children`) === undefined) return false;
  try {
    for (const task of Deno.readDirSync(self)) {
      const state = readText(`${self}/${task.name}/stat`)?.split(") ")[1]?.[0];
      const wchan = readText(`${self}/${task.name}/wchan`);
      if (state === "S" && wchan && wchan !== "0") return shown = true;
    }
  } catch {
    // no /proc to read
  }
  return false;
}
