/**
 * What hosts that ended midway leave beside the snapshots: a write's build
 * folder (`.tmp-…`, review 136) and a removal's snapshot moved aside
 * (`.prune-…`, review 159), each up to a snapshot's `maxBytes`; and the
 * removal of such read-only trees.
 * @module
 */

import { join } from "node:path";

/** What a removal moved out of the way, to remove at its leisure (or the next removal's). */
export const ASIDE = ".prune-";

/**
 * How old a build folder beside the snapshots (`.tmp-…`), or a lease's
 * half-made file, must be before a removal takes it: one that old is no
 * live write's (a write copies bytes the walk read already, up to the
 * limits: seconds, and its end removes its folder), but a host's that
 * ended with no code run (SIGKILL, an uncaught error, `Deno.exit()`) in the
 * middle of its write.
 */
export const BUILD_LEFTOVER_MS = 60 * 60_000;

/** Removes a snapshot-like tree whose folders were made read-only. */
export async function removeReadOnly(path: string): Promise<void> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (!info) return;
  if (info.isDirectory) {
    await Deno.chmod(path, 0o755);
    for await (const entry of Deno.readDir(path)) await removeReadOnly(join(path, entry.name));
  }
  await Deno.remove(path);
}

/**
 * Removes the build folders a host left in `parent` when it ended in the
 * middle of a write (review 136), and what an interrupted removal set
 * aside. Best effort: a folder another host removes meanwhile is skipped.
 */
export async function sweepBuilds(parent: string): Promise<void> {
  const old: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (!entry.isDirectory) continue;
    if (entry.name.startsWith(ASIDE)) {
      old.push(entry.name);
      continue;
    }
    if (!entry.name.startsWith(".tmp-")) continue;
    const info = await Deno.lstat(join(parent, entry.name)).catch(() => undefined);
    const made = info?.mtime?.getTime();
    if (made !== undefined && Date.now() - made > BUILD_LEFTOVER_MS) old.push(entry.name);
  }
  for (const name of old) await removeReadOnly(join(parent, name)).catch(() => {});
}
