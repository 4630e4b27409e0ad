/**
 * Whose plugbox's cache is. Every start trusts what the cache holds: a
 * snapshot is found by the hash of the folder it copies, a module-graph
 * verdict by the hash of its view, and the sealing key and the list of
 * replaced approvals are read from it. So only the host's user (and root)
 * may change it: a cache another user owns, or one they may write or move
 * (a folder on its path writable by others, not sticky), is refused
 * (review 92: another user put their own code in place of a checked
 * plugin's snapshot, and every later start ran it with the plugin's grants
 * and approval), as `ssh` refuses a key in such a folder.
 * @module
 */

import { dirname } from "node:path";
import { hostUid } from "./grant_rules.ts";
import { neutralize } from "../wire/mod.ts";

/** The sticky bit: in such a folder only an entry's owner may move or remove it. */
const STICKY = 0o1000;

/**
 * Closes the cache folder to other users when it is this user's and open to
 * them: what a start makes in it takes the process's umask, and under a
 * cache others may search, a folder their group may write (`snapshots/` made
 * at umask 002) let one of them swap a snapshot (review 94). A cache made
 * since review 92 is 0700 already; one made before is 0755.
 */
function closeToOthers(path: string, info: Deno.FileInfo, uid: number | undefined): void {
  if (info.mode === null || (info.mode & 0o077) === 0) return;
  if (uid === undefined || info.uid !== uid) return; // not this user's to change: judged as it is
  Deno.chmodSync(path, info.mode & 0o7700);
}

/**
 * Why another user could change a folder of `info` (the cache, or a folder
 * above it); undefined if none could.
 */
function sharedBecause(
  info: Deno.FileInfo,
  isCache: boolean,
  uid: number | undefined,
): string | undefined {
  if (info.uid === null || info.mode === null) return undefined; // no owners or modes here
  if (uid !== undefined && info.uid !== uid && info.uid !== 0) return `is owned by uid ${info.uid}`;
  // Above the cache, a sticky folder lets others add entries but move none of this user's.
  if ((info.mode & 0o022) !== 0 && (isCache || (info.mode & STICKY) === 0)) {
    return "is writable by other users";
  }
  return undefined;
}

/**
 * Refuses the cache at `cacheDir` (canonical, existing) when a user other
 * than the host's and root could change it or any folder on its path; a
 * cache of this user's that others may enter is closed to them (0700).
 *
 * @throws {TypeError} naming the folder and why.
 *
 * @example
 * ```ts ignore
 * refuseSharedCache("/tmp/plugbox"); // TypeError when another user made /tmp/plugbox first
 * ```
 */
export function refuseSharedCache(cacheDir: string): void {
  const uid = hostUid(cacheDir);
  // Each folder read once: the cache's own, judged here, is the one closed below.
  const cache = Deno.lstatSync(cacheDir);
  for (let path = cacheDir;; path = dirname(path)) {
    const why = sharedBecause(
      path === cacheDir ? cache : Deno.lstatSync(path),
      path === cacheDir,
      uid,
    );
    if (why) {
      throw new TypeError(
        `Cannot use plugbox's cache "${neutralize(cacheDir, 300)}": "${
          neutralize(path, 300)
        }" ${why}, who could put their own code in place of a checked plugin's; use a cache ` +
          `folder only this user may change (cacheDir, PLUGBOX_CACHE_DIR)`,
      );
    }
    if (dirname(path) === path) break;
  }
  closeToOthers(cacheDir, cache, uid);
}
