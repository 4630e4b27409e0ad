/**
 * What the host reads and sends to see and end a plugin's process tree on
 * Linux: `/proc/<pid>/stat` fields, children, signals. Under the OS layer
 * that tree is
 *
 *     host ─▶ bubblewrap ─▶ init (pid 1 of the sandbox: bubblewrap's reaper) ─▶ plugin
 *
 * and two parts of the host stop a process in it, each for its own reason
 * and never the same one: a kill (`kill_tree.ts`) stops bubblewrap, so it
 * cannot make init while the kill looks for it, then SIGKILLs init, which
 * takes the whole PID namespace down; the exit watch (`exit_cause.ts`)
 * stops init while the plugin runs, so a plugin that ends stays a zombie
 * whose real wait status the kernel shows, then lets init go on. SIGKILL
 * reaches a stopped process, so a kill works whatever the watch holds, and
 * each side lets go only of what it stopped. The CPU watchdog
 * (`cpu_watchdog.ts`) pauses and resumes only the plugin's own busy
 * processes, never bubblewrap or init, and its kill is this kill. Deno lets a host read
 * `/proc/<pid>` only with `--allow-all`; without it every read here says
 * "gone" and the callers fall back (see each).
 * @module
 */

import { readText, statAt } from "./proc_view.ts";

/** Fields of /proc/<pid>/stat after the command name (the state first), or undefined once gone. */
export function statFields(pid: number): string[] | undefined {
  return statAt(`/proc/${pid}/stat`);
}

/**
 * Whether the process `pid`, which started at `started` (field 22 of its stat), has ended or
 * will run no more: gone, a zombie, its pid another process's, or a SIGKILL pending (sent, and
 * not yet acted on: a machine under load runs the killed process late). `started` undefined (the
 * host could not read it) tells nothing: false.
 *
 * @example
 * ```ts ignore
 * import { endedOrKilled, statFields } from "./proc_tree.ts";
 * const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
 * const started = statFields(child.pid)?.[19];
 * child.kill("SIGKILL");
 * console.log(endedOrKilled(child.pid, started)); // true, at once
 * ```
 */
export function endedOrKilled(pid: number, started: string | undefined): boolean {
  if (started === undefined) return false;
  const fields = statFields(pid);
  if (fields === undefined || fields[0] === "Z" || fields[19] !== started) return true;
  // SIGKILL is signal 9: bit 8 of the pending masks, the process's (ShdPnd) and its thread's.
  const status = readText(`/proc/${pid}/status`) ?? "";
  return [...status.matchAll(/^(?:ShdPnd|SigPnd):\s*([0-9a-f]+)$/gm)]
    .some(([, mask]) => (parseInt(mask.slice(-3), 16) & 0x100) !== 0);
}

/** The state letter of `pid` (`R`, `S`, `T`, `Z`, ...), or undefined once it is gone. */
export function stateOf(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** Children of `pid`, from each of its threads' `children` list (Linux). */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`);
      for (const child of text.trim().split(/\s+/)) if (child) found.push(Number(child));
    }
  } catch {
    // gone, or not Linux
  }
  return found;
}

/**
 * Sends `signal` to a process or (negative id) a process group; false when
 * there was none, or the host may not signal it. `Deno.kill` wants all of
 * `--allow-run`: a host with the README's narrower list (`sh` in it) sends
 * it with `shell`'s own `kill` instead (a program, 3 to 5 ms; review 36:
 * without it every SIGKILL was dropped, and a start's deadline, a stop and
 * an abort each waited forever for an exit that never came).
 */
export function send(target: number, signal: Deno.Signal, shell?: string): boolean {
  return sendEach([target], signal, shell);
}

/**
 * {@linkcode send} to each of `targets`, in order; true if every one got it.
 * Those Deno refuses go to one run of `shell`'s `kill` together, waited
 * for here: for exit paths that cannot await ({@linkcode sendEachLater}
 * otherwise, which does not hold the event loop for the program's run).
 */
export function sendEach(targets: number[], signal: Deno.Signal, shell?: string): boolean {
  const { refused, all } = sendByDeno(targets, signal, shell);
  if (refused.length === 0) return all;
  try {
    return killCommand(shell!, refused, signal).outputSync().success && all;
  } catch {
    return false;
  }
}

/** {@linkcode sendEach} without holding the event loop while `shell` runs. */
export async function sendEachLater(
  targets: number[],
  signal: Deno.Signal,
  shell?: string,
): Promise<boolean> {
  const { refused, all } = sendByDeno(targets, signal, shell);
  if (refused.length === 0) return all;
  try {
    return (await killCommand(shell!, refused, signal).output()).success && all;
  } catch {
    return false;
  }
}

/** Sends with `Deno.kill`; `refused`: the targets Deno would not signal, for `shell`. */
function sendByDeno(targets: number[], signal: Deno.Signal, shell: string | undefined) {
  const refused: number[] = [];
  let all = true;
  for (const target of targets) {
    // 0, 1 and their groups are this host's own group and init: never a plugin's.
    if (!Number.isSafeInteger(target) || Math.abs(target) <= 1) {
      all = false;
      continue;
    }
    try {
      Deno.kill(target, signal);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable && shell) refused.push(target);
      else all = false;
    }
  }
  return { refused, all };
}

/** `shell`'s `kill` builtin, sending `signal` to `targets`. */
function killCommand(shell: string, targets: number[], signal: Deno.Signal): Deno.Command {
  return new Deno.Command(shell, {
    args: [
      "-c",
      'sig=$1; shift; kill -s "$sig" -- "$@"',
      "sh",
      signal.slice(3),
      ...targets.map(String),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    clearEnv: true,
  });
}
