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

import { dirname, isAbsolute, join } from "node:path";
import { hostUid } from "./grant_rules.ts";
import { absolutePath } from "./paths.ts";
import { rethrowHostPermission } from "./exec.ts";
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
  refuseSharedAbove(cacheDir, cacheDir, { uid, cache });
  closeToOthers(cacheDir, cache, uid);
}

/** Refuses `cacheDir` when another user could change `from` (real) or a folder above it. */
function refuseSharedAbove(
  cacheDir: string,
  from: string,
  { uid, cache }: { uid: number | undefined; cache?: Deno.FileInfo },
): void {
  for (let path = from;; path = dirname(path)) {
    const isCache = path === cacheDir && cache !== undefined;
    const why = sharedBecause(isCache ? cache : Deno.lstatSync(path), isCache, uid);
    if (why) throw sharedError(cacheDir, path, why);
    if (dirname(path) === path) break;
  }
}

function sharedError(
  cacheDir: string,
  path: string,
  why: string,
  could = "put their own code in place of a checked plugin's",
): TypeError {
  return new TypeError(
    `Cannot use plugbox's cache "${neutralize(cacheDir, 300)}": "${
      neutralize(path, 300)
    }" ${why}, who could ${could}; use a cache folder only this user may change ` +
      `(cacheDir, PLUGBOX_CACHE_DIR)`,
  );
}

/** The most links followed while a cache's spelling is judged (the kernel's own limit). */
const MAX_LINKS = 40;

/**
 * Refuses a cache spelled (as given, before it is made real) through a link
 * another user could aim: one they own, or one in a folder where they may
 * rename things (writable by them and not sticky, on the way to the link).
 * The cache's real path is judged by {@linkcode refuseSharedCache}; the
 * link is resolved again at every start, so its owner chose, start by
 * start, which of this user's folders became the cache: plugbox made its
 * folders there and closed it to others (review 120: `PLUGBOX_CACHE_DIR`
 * in `/tmp`, where another user's link `/tmp/plugbox` led to this user's
 * home folder, which was made 0700). What does not exist yet ends the walk:
 * it is judged again once made. `probeDir`, an existing folder, is where
 * this process's user may be learnt (see `hostUid`).
 *
 * @throws {TypeError} naming the link and why.
 *
 * @example
 * ```ts ignore
 * refuseSharedLinks("/tmp/plugbox"); // TypeError when another user's link is there
 * ```
 */
export function refuseSharedLinks(spelled: string, probeDir?: string): void {
  const uid = hostUid(probeDir);
  const pending = absolutePath(spelled).split("/").filter(Boolean);
  let at = "/";
  for (let links = 0; pending.length > 0;) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      at = dirname(at);
      continue;
    }
    const path = join(at, name);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      rethrowHostPermission(error);
      return; // not there (or not a folder): making the cache makes or refuses it
    }
    if (!info.isSymlink) {
      at = path;
      continue;
    }
    if (++links > MAX_LINKS) return; // the kernel refuses it: making the cache fails
    // The folders that hold the link (real ones: every link before it is resolved).
    refuseSharedAbove(spelled, at, { uid });
    if (uid !== undefined && info.uid !== null && info.uid !== uid && info.uid !== 0) {
      const could = "lead it to any folder of this user's at each start";
      throw sharedError(spelled, path, `is a link owned by uid ${info.uid}`, could);
    }
    const target = Deno.readLinkSync(path);
    pending.unshift(...target.split("/").filter(Boolean));
    if (isAbsolute(target)) at = "/";
  }
}
