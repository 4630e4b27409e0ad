/**
 * `pruneCache`: removes from plugbox's cache the snapshots no plugin uses,
 * by age or to a size, on the host's say (a start that writes a new
 * snapshot keeps them within `snapshotCacheBytes` on its own).
 * @module
 */

import { join } from "node:path";
import { refuseSharedCache, refuseSharedLinks } from "./cache_owner.ts";
import { onHostPath } from "./host_path.ts";
import { defaultCacheDir, sweepPluginTrash } from "./locate.ts";
import { canonicalPath } from "./paths.ts";
import { sweepBuilds } from "./snapshot_leftovers.ts";
import { type PruneResult, pruneSnapshots } from "./snapshot_prune.ts";

export type { PruneResult } from "./snapshot_prune.ts";

/**
 * What {@linkcode pruneCache} removes: snapshots over either bound, those
 * used longest ago first. With neither, it removes only what hosts that
 * died midway left.
 *
 * @example
 * ```ts ignore
 * import { pruneCache, type PruneCacheOptions } from "@plugbox/plugbox";
 * const options: PruneCacheOptions = { maxBytes: 256 * 1024 * 1024 };
 * await pruneCache(options); // the snapshots used longest ago, past 256 MiB
 * ```
 */
export interface PruneCacheOptions {
  /**
   * The cache.
   * @default {$PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox, else ~/.cache/plugbox}
   */
  cacheDir?: string;
  /**
   * Most bytes the snapshots may hold together (each counted as its files'
   * bytes and 4 KiB a file and folder).
   * @default {no bound}
   */
  maxBytes?: number;
  /**
   * Remove every snapshot not used for this long, in milliseconds.
   * @default {no bound}
   */
  unusedForMs?: number;
}

function checkBound(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `Cannot prune plugbox's cache: "${name}" must be a whole number from 0, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
}

/**
 * Removes the cache's snapshots that no plugin in any host process uses
 * (each start holds a lease on its snapshot until its plugin ends), with
 * their module-graph verdicts, by `options`; what hosts that died in the
 * middle of a write or a removal left; and the Deno dirs of ended plugins
 * with a `run`, `ffi` or `all` grant, which their next start would remove. A snapshot removed is written
 * again by the next start that needs it (a slower start, no failure).
 *
 * @example
 * ```ts ignore
 * import { pruneCache } from "@plugbox/plugbox";
 * const week = 7 * 24 * 60 * 60 * 1000;
 * const { removed, removedBytes } = await pruneCache({ unusedForMs: week });
 * console.log(`removed ${removed} snapshots, ${removedBytes} bytes`);
 * ```
 * @throws {TypeError} for a bad bound, or a cache another user could change.
 */
export async function pruneCache(options: PruneCacheOptions = {}): Promise<PruneResult> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot prune plugbox's cache: its options must be an object");
  }
  checkBound("maxBytes", options.maxBytes);
  checkBound("unusedForMs", options.unusedForMs);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  if (typeof cacheDir !== "string" || cacheDir === "") {
    throw new TypeError(`Cannot prune plugbox's cache: "cacheDir" must be a non-empty path`);
  }
  const none: PruneResult = { removed: 0, removedBytes: 0, kept: 0, keptBytes: 0, inUse: 0 };
  if (!(await Deno.lstat(cacheDir).then(() => true, () => false))) return none;
  // Only this user's, as for a start: a removal in a folder another user aims removes theirs.
  refuseSharedLinks(cacheDir, cacheDir);
  const canonical = canonicalPath(cacheDir);
  refuseSharedCache(canonical);
  // What plugins with a run, ffi or all grant wrote in Deno dirs of their own, ended since.
  await sweepPluginTrash(canonical, onHostPath("sh"));
  const snapshots = join(canonical, "snapshots");
  if (!(await Deno.lstat(snapshots).then((info) => info.isDirectory, () => false))) return none;
  const result = await pruneSnapshots(snapshots, {
    maxBytes: options.maxBytes,
    unusedForMs: options.unusedForMs,
  });
  await sweepBuilds(snapshots).catch(() => {});
  await sweepVerdicts(join(canonical, "verified"), snapshots);
  return result;
}

/**
 * Removes the module-graph verdicts of snapshots that are gone, and those
 * an earlier plugbox kept under its hash alone (which no start reads now).
 */
async function sweepVerdicts(verified: string, snapshots: string): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(verified)).catch(() => []);
  for (const entry of entries) {
    const match = /^([0-9a-f]{32})-[0-9a-f]{64}$/.exec(entry.name);
    const gone = !match ||
      !(await Deno.lstat(join(snapshots, match[1])).then(() => true, () => false));
    if (gone) await Deno.remove(join(verified, entry.name)).catch(() => {});
  }
}
