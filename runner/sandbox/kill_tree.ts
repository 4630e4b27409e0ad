/**
 * Kills a plugin and everything it started, without relying on anything
 * the plugin's side set up for itself. Under the Deno layer the plugin runs
 * in a session and process group of its own (spawned `detached`: setsid), so the group is
 * killed, and every descendant found in `/proc` (a child with a session of
 * its own is outside the group), each stopped before it is read. Under the OS layer bubblewrap's sandbox is a PID namespace whose
 * first process is a child of the bubblewrap we spawned: that child is
 * killed, and the kernel kills the whole namespace with it. Bubblewrap is
 * stopped first, and the kill waits until it is: a fork already under way
 * when SIGSTOP is sent still completes, and its child, in a session of its
 * own at once, would be in no group the kill reaches. The
 * exit watch (`exit_cause.ts`) may hold that child stopped meanwhile:
 * SIGKILL ends it all the same (see `proc_tree.ts`).
 * @module
 */

import { childrenOf, send, sendEach, sendEachLater, stateOf, statFields } from "./proc_tree.ts";

/** A process seen in a plugin's tree: its id and start time (a reused id has another). */
export interface SeenProcess {
  pid: number;
  started: string;
}

const startOf = (pid: number): string | undefined => statFields(pid)?.[19];

/**
 * Every descendant of `pid` now (not `pid` itself), walking each thread's
 * `children` list; with `freeze`, each is SIGSTOPped before its own children
 * are read, so none can fork away while the walk goes on. Empty where the
 * host cannot read `/proc` (Deno needs `--allow-all` for it).
 */
export function descendantsOf(pid: number, freeze: boolean): SeenProcess[] {
  const seen = new Map<number, string>();
  const queue = childrenOf(pid);
  while (queue.length > 0 && seen.size < 65_536) {
    const child = queue.shift()!;
    if (seen.has(child)) continue;
    const started = startOf(child);
    if (started === undefined) continue; // gone meanwhile
    if (freeze) send(child, "SIGSTOP");
    seen.set(child, started);
    queue.push(...childrenOf(child));
  }
  return [...seen].map(([pid, started]) => ({ pid, started }));
}

/**
 * SIGKILLs processes seen earlier that still run with the same start time,
 * and whatever they started since (frozen first, then killed).
 */
export function killSeen(seen: readonly SeenProcess[]): void {
  const alive = seen.filter(({ pid, started }) => startOf(pid) === started);
  for (const { pid } of alive) send(pid, "SIGSTOP");
  const all = [...alive, ...alive.flatMap(({ pid }) => descendantsOf(pid, true))];
  for (const { pid, started } of all) if (startOf(pid) === started) send(pid, "SIGKILL");
}

function isStopped(pid: number): boolean {
  const state = stateOf(pid);
  return state === undefined || state === "T" || state === "t" || state === "Z";
}

/** Resolves once `pid` is stopped or gone, polling, for at most `ms`. */
async function stopped(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (let delay = 0; !isStopped(pid) && Date.now() < end; delay = Math.min(delay + 1, 5)) {
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Kills the children of a stopped bubblewrap (each a PID namespace's first process), then it. */
function killStopped(pid: number, shell?: string): void {
  for (const child of childrenOf(pid)) {
    send(-child, "SIGKILL");
    send(child, "SIGKILL");
  }
  killGroupNow(pid, shell);
}

/**
 * SIGKILLs `pid`'s process group and `pid` itself; when `sandboxed` (the
 * OS layer), first stops `pid` and, once it is stopped (and so cannot start
 * a child meanwhile), kills its children. Resolves when every signal is sent.
 * `shell` sends the signals to `pid` and its group where Deno may not (see
 * `send`).
 *
 * @example
 * ```ts ignore
 * import { killTree } from "./kill_tree.ts";
 * const child = new Deno.Command("setsid", { args: ["sleep", "60"] }).spawn();
 * await killTree(child.pid, false);
 * console.log((await child.status).signal); // SIGKILL
 * ```
 */
export async function killTree(pid: number, sandboxed: boolean, shell?: string): Promise<void> {
  // Stopped first only where Deno may signal it: a host that may not cannot read /proc either,
  // to find the children that stop is for (the kill below then takes a run of sh, not three).
  if (sandboxed && Deno.build.os === "linux" && send(pid, "SIGSTOP")) {
    await stopped(pid, 200);
    killStopped(pid, shell);
    return;
  }
  const seen = freezeGroup(pid);
  // A host Deno may not let signal waits for sh here without holding its event loop.
  await sendEachLater([-pid, pid], "SIGKILL", shell);
  killSeen(seen);
}

/**
 * {@linkcode killTree} without yielding, for exit paths that cannot await
 * (the host's `unload`): it waits for bubblewrap to stop by polling, for at
 * most 50 ms.
 */
export function killTreeNow(pid: number, sandboxed: boolean, shell?: string): void {
  if (sandboxed && Deno.build.os === "linux" && send(pid, "SIGSTOP")) {
    const end = Date.now() + 50;
    while (!isStopped(pid) && Date.now() < end) {
      // spin: the host is exiting, and nothing else can run meanwhile anyway
    }
    killStopped(pid, shell);
    return;
  }
  killGroupNow(pid, shell);
}

/**
 * SIGKILLs `pid`'s group and `pid` at once, and (Linux) every descendant:
 * `pid` is stopped first and each descendant as the walk finds it, so none
 * forks away; a child in a session of its own (`detached`, with a run
 * grant) is outside the group and found only so.
 */
function killGroupNow(pid: number, shell?: string): void {
  const seen = freezeGroup(pid);
  sendEach([-pid, pid], "SIGKILL", shell);
  killSeen(seen);
}

/**
 * Stops `pid` and each descendant as the walk finds it (Linux, where this
 * host may read `/proc`): what {@linkcode killSeen} kills after the group.
 */
function freezeGroup(pid: number): SeenProcess[] {
  const started = Deno.build.os === "linux" ? startOf(pid) : undefined;
  if (started === undefined) return [];
  send(pid, "SIGSTOP");
  return descendantsOf(pid, true);
}
