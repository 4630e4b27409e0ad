/**
 * `plug approve` as a function: plan the start as it would run, then record
 * it in the lock and say what changed since the last approval.
 * @module
 */

import { type Approval, approveLock, type LockOptions } from "./lock.ts";
import { defaultCacheDir } from "./locate.ts";
import { type LaunchOptions, planPlugin } from "./plan.ts";

/**
 * Approves a plugin as it is now, with the grants given: plans the start
 * (snapshot, module graph, grants against its manifest) and records its
 * content hash, its manifest's requests and the grants in the lock, sealed.
 * Returns what was added and removed since the previous approval; with
 * `dryRun`, only that, and the lock is not written.
 *
 * @example
 * ```ts ignore
 * import { approvePlugin } from "@plugbox/plugbox";
 *
 * const { added, contentChanged } = await approvePlugin("./plugins/fetcher/main.ts", {
 *   permissions: { net: ["example.com:443"] },
 *   lock: { path: "./plugbox.lock" },
 * });
 * console.log(contentChanged ? "new version approved" : "grants approved", added);
 * ```
 * @throws whatever `previewStart` throws; {@linkcode LockError} when the lock is malformed.
 */
export async function approvePlugin(
  module: string | URL,
  options: LaunchOptions & { lock: LockOptions; dryRun?: boolean },
): Promise<Approval> {
  const { lock, dryRun, ...launch } = options;
  const plan = await planPlugin(module, launch);
  return approveLock(
    {
      plugin: plan.name,
      root: plan.root,
      hash: plan.snapshot.hash,
      manifest: plan.manifest.manifest,
      grants: plan.grants,
      cacheDir: Deno.realPathSync(launch.cacheDir ?? defaultCacheDir()),
    },
    lock,
    dryRun,
  );
}
