/**
 * The folder of a relay's egress socket (one per start under the OS layer
 * granted net, in the cache, or in `/tmp` where the cache's path is too long
 * for a socket): made host-only, and held locked (`flock`, until its proxy
 * closes it) for as long as its proxy listens. The kernel drops the lock
 * when the host ends however it ends, so a folder no process holds locked is
 * no one's. Its proxy's close removed it, and nothing else did: a host
 * SIGKILLed, or ended by `Deno.exit` (which closes nothing), left it and its
 * socket for good (review 170: 143 of them in one cache after a day of
 * tests). Each process's first proxy removes every such folder beside its
 * own, as the cgroups of dead hosts are swept.
 * @module
 */

import { basename, dirname, join } from "node:path";

/** The parent folders this process swept already: once each. */
const swept = new Set<string>();

/**
 * The most folders one sweep removes. Each costs the host's thread about 2 ms, most of it the
 * kernel freeing the folder at its last close, and the start waits on it: 5,000 left took 8.9 s of
 * a start (review 171). Each host's first relay removes as many again: what SIGKILLed hosts left
 * (one a relay running) goes within a few starts.
 */
export const SWEEP_MOST = 32;

/**
 * `dir` opened and locked while it is still the folder at that name, and `owner`'s (where given);
 * undefined when another process holds it (without `wait`), or it moved or went meanwhile, or
 * another user made it. With `wait`, waits for the lock: only a sweep holds a folder no proxy
 * does, and only for a moment.
 */
function lockFolder(dir: string, wait: boolean, owner?: number): Deno.FsFile | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(dir, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const locked = wait ? (file.lockSync(true), true) : file.tryLockSync(true);
    const named = locked ? Deno.lstatSync(dir) : undefined;
    if (
      named && named.ino === file.statSync().ino && (owner === undefined || named.uid === owner)
    ) return file;
  } catch {
    // moved or gone meanwhile: below
  }
  file.close();
  return undefined;
}

/**
 * Removes the socket folders in `parent` named as `own` is (`held-` and a
 * nonce's 16 hex digits, after the same prefix: sandbox/egress.ts) that no
 * process holds locked and `owner` (this process's user) made: each emptied
 * of its socket, then removed; one holding anything else is left. A folder
 * of an older plugbox, which held no lock on it while its proxy listened,
 * has another name: never taken. Nor one of another user: in `/tmp`, which
 * every user may write, a root host emptied and removed any such folder, and
 * its owner could swap it for a link between the lock and the removal, so
 * that root removed an `s` in any folder (review 171). A folder root made
 * there its owner cannot move (the sticky bit), so its name stays its.
 */
function sweepBeside(parent: string, own: string, owner: number): void {
  const prefix = basename(own).slice(0, -16);
  const shape = new RegExp(`^${prefix.replace(/[^a-z-]/g, "")}[0-9a-f]{16}$`);
  let names: string[];
  try {
    names = [...Deno.readDirSync(parent)].filter((e) => e.isDirectory && shape.test(e.name))
      .map((e) => e.name);
  } catch {
    return; // not ours to read: nothing is swept
  }
  let removed = 0;
  for (const name of names) {
    if (removed === SWEEP_MOST) return;
    const dir = join(parent, name);
    if (dir === own) continue;
    const held = lockFolder(dir, false, owner);
    if (!held) continue; // its proxy listens, it went meanwhile, or it is another user's
    try {
      Deno.removeSync(join(dir, "s"));
    } catch {
      // none there (a host ended before it listened)
    }
    try {
      Deno.removeSync(dir); // only if empty
      removed++;
    } catch {
      // something else in it: left
    } finally {
      held.close();
    }
  }
}

/**
 * Makes the folder of `socket` (host-only) and locks it; on the first call in
 * this process for its parent, removes the folders beside it that no process
 * holds. The lock is released by closing the returned file.
 *
 * @example
 * ```ts ignore
 * const held = holdSocketFolder(plan.socket!);
 * // ... listen on plan.socket, and at the close:
 * releaseSocketFolder(plan.socket!, held);
 * ```
 */
export function holdSocketFolder(socket: string): Deno.FsFile {
  const dir = dirname(socket);
  // Another host's sweep may take the folder between its making and its locking: made again.
  // Its lock is waited for, as a sweep holds it only a moment: three tries at once all fell within
  // the hold of a sweep held up meanwhile (preempted, on a busy machine), and the start failed
  // (review 171).
  for (let attempt = 1;; attempt++) {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.chmodSync(dir, 0o700);
    const held = lockFolder(dir, true);
    if (held) {
      const parent = dirname(dir);
      if (!swept.has(parent)) {
        swept.add(parent);
        sweepBeside(parent, dir, held.statSync().uid!);
      }
      return held;
    }
    if (attempt === 3) throw new Error(`Cannot lock the egress socket's folder ${dir}`);
  }
}

/** Removes the folder of `socket` and what it holds, then lets go of its lock. */
export async function releaseSocketFolder(socket: string, held: Deno.FsFile): Promise<void> {
  await Deno.remove(dirname(socket), { recursive: true }).catch(() => {});
  held.close();
}
