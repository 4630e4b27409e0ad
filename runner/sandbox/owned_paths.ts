/**
 * Paths recorded with who holds them, across the starts of one process:
 * what grant_rules.ts (folders written, links followed) and
 * plugin_folders.ts (plugins' code, write grants) compare a new start
 * against. An owner is a plugin's name and folder, so its own restart is
 * never another's.
 * @module
 */

import { isWithinOnDisk, onDiskOnce } from "./on_disk.ts";

/** Paths, each with the owners recorded for it. */
export type OwnedPaths = Map<string, Set<string>>;

/** Whether one of `a` and `b` holds the other, by spelling or on disk (a bind mount). */
export const overlaps = (a: string, b: string): boolean =>
  isWithinOnDisk(a, b) || isWithinOnDisk(b, a);

/** Adds `owner` to each of `paths` in `record`. */
export function note(record: OwnedPaths, paths: readonly string[], owner: string): void {
  for (const path of paths) {
    const owners = record.get(path) ?? new Set<string>();
    owners.add(owner);
    record.set(path, owners);
  }
}

/** The first path of `record` that overlaps `path` and is someone's but `owner`'s. */
export function othersOverlapping(
  record: OwnedPaths,
  path: string,
  owner: string,
): string | undefined {
  return onDiskOnce(() => {
    for (const [recorded, owners] of record) {
      if (!overlaps(path, recorded)) continue;
      if (owners.size > 1 || !owners.has(owner)) return recorded;
    }
    return undefined;
  });
}
