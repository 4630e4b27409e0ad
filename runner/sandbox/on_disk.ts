/**
 * Paths compared on disk, not only as spelled: one folder may lie at two
 * paths (a bind mount, one file system mounted twice), which canonical
 * paths do not show. For refusals: grants against code, plugbox's sealing
 * key, other plugins' folders and others' write grants (reviews 137, 139).
 * @module
 */

import { dirname } from "node:path";
import { type Mount, type Place, placeOf, readMounts } from "./mount_places.ts";
import { enclosing, isWithin } from "./paths.ts";

/**
 * True when `inner` is `outer` or lies below it, by spelling or on disk: a
 * folder at or above `inner` is `outer` itself under another path (a bind
 * mount, one file system mounted twice), compared by device and inode.
 * Canonical paths differ there, and compared as strings a write grant of a
 * bind mount of plugbox's cache was no write over code (review 137). And
 * by the mounts' own word (mount_places.ts): a bind mount of a folder below
 * `outer` shows, up its path, the folders above the mount, none of them
 * `outer`, and a write grant of a second mount of the cache's snapshots, or
 * of a plugin's own `data` folder, was granted (review 139). What does not
 * exist is judged by what of it does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWithinOnDisk } from "./on_disk.ts";
 * assert.ok(isWithinOnDisk("/tmp/no/such", "/tmp") && !isWithinOnDisk("/tmp", "/tmp/no"));
 * ```
 */
export function isWithinOnDisk(inner: string, outer: string): boolean {
  return isWithin(inner, outer) || onDiskOnce(() => withinOnDisk(inner, outer));
}

/** {@linkcode isWithinOnDisk} past the spelling: by the mounts, then by the folders up `inner`. */
function withinOnDisk(inner: string, outer: string): boolean {
  const [held, holder] = [placeNow(inner), placeNow(outer)];
  if (held && holder && held.device === holder.device && isWithin(held.path, holder.path)) {
    return true; // through a mount of a folder below `outer` too, which no folder up `inner` is
  }
  const target = identityOf(outer);
  if (target === undefined) return false;
  for (let at = inner;; at = dirname(at)) {
    if (identityOf(at) === target) return true;
    if (at === dirname(at)) return false;
  }
}

/**
 * The first of `folders` that `path` lies strictly inside, by spelling or
 * on disk ({@linkcode isWithinOnDisk}); a link is judged where it lies, not
 * where it leads. For refusals only: a bind or a rule is made by spelling,
 * so {@linkcode outsideWrites} keeps comparing spellings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { enclosingOnDisk } from "./on_disk.ts";
 * assert.equal(enclosingOnDisk("/tmp/x", ["/tmp"]), "/tmp");
 * assert.equal(enclosingOnDisk("/tmp", ["/tmp"]), undefined);
 * ```
 */
export function enclosingOnDisk(path: string, folders: readonly string[]): string | undefined {
  return enclosing(path, folders) ??
    onDiskOnce(() =>
      folders.find((folder) => path !== dirname(path) && isWithinOnDisk(dirname(path), folder))
    );
}

/** The identities looked up in the check under way ({@linkcode onDiskOnce}), by path. */
let looked: Map<string, string | undefined> | undefined;
/** The mounts and places read in the check under way, by path. */
let mountsRead: { mounts: Mount[] | undefined; places: Map<string, Place | undefined> } | undefined;

/**
 * Runs `check`, a synchronous check of paths on disk, with each path's identity looked up once:
 * the folders up a path are the same for every path it is compared with. Each comparison looked
 * them all up again, on the host's thread: with 500 folders recorded (a host of a few hundred
 * plugins), one start's 5 write grants took 212 ms of lstat calls, 2,000 folders 864 ms, against
 * 1 and 5 ms by spelling (review 139). Within one check nothing else runs on the thread, so what
 * is looked up once is what every comparison would have seen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWithinOnDisk, onDiskOnce } from "./on_disk.ts";
 * assert.ok(onDiskOnce(() => isWithinOnDisk("/tmp/a", "/tmp") && !isWithinOnDisk("/", "/tmp")));
 * ```
 */
export function onDiskOnce<T>(check: () => T): T {
  if (looked) return check();
  looked = new Map();
  try {
    return check();
  } finally {
    looked = undefined;
    mountsRead = undefined;
  }
}

/** `path`'s place on disk by the mounts now (mount_places.ts); undefined where none is known. */
function placeNow(path: string): Place | undefined {
  const read = mountsRead ?? { mounts: readMounts(), places: new Map() };
  if (looked) mountsRead = read; // kept for the check under way
  if (!read.mounts) return undefined;
  if (!read.places.has(path)) read.places.set(path, placeOf(path, read.mounts));
  return read.places.get(path);
}

/** `device:inode` of what lies at `path` (a link itself); undefined when it cannot be told. */
function identityOf(path: string): string | undefined {
  if (looked?.has(path)) return looked.get(path);
  let identity: string | undefined;
  try {
    const { dev, ino } = Deno.lstatSync(path);
    identity = ino === null || ino === undefined ? undefined : `${dev}:${ino}`;
  } catch {
    // missing, or not this host's to look at: judged by its spelling alone
  }
  looked?.set(path, identity);
  return identity;
}
