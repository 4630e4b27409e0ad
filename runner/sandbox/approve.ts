/**
 * `plug approve` as a function: plan the start as it would run, then record
 * it in the lock and say what changed since the last approval.
 * @module
 */

import { type LockDifference, LockError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import {
  beyondApproval,
  entryFor,
  type LockOptions,
  type LockSubject,
  NO_APPROVAL,
  validateLock,
} from "./lock.ts";
import {
  type LockEntry,
  type LockFile,
  lockKey,
  readLock,
  sealHolds,
  updateLock,
} from "./lock_file.ts";
import { defaultCacheDir } from "./locate.ts";
import { approvals } from "./prepare.ts";
import { revokeSeal, sealRevoked } from "./lock_revoked.ts";
import { type LaunchOptions, planPlugin, releaseUnlaunchedPlan } from "./plan.ts";
import { LAUNCH_KEYS, refuseUnknownOptions } from "./option_keys.ts";

/** The options an approval takes: a launch's, and its own. */
const APPROVE_KEYS = [...LAUNCH_KEYS, "dryRun", "expectHash"];

/**
 * What approving a start changes in the lock.
 *
 * @example
 * ```ts ignore
 * import { approvePlugin } from "@plugbox/plugbox";
 *
 * const approval = await approvePlugin("./plugins/kv/main.ts", {
 *   permissions: { read: ["./data"], write: ["./data"], env: ["KV_DIR"] },
 *   lock: { path: "./plugbox.lock" },
 * });
 * console.log(approval.added, approval.removed);
 * ```
 */
export interface Approval {
  /** The plugin's name. */
  plugin: string;
  /** The lock file written. */
  lockPath: string;
  /** The entry it replaced, if any. */
  previous?: LockEntry;
  /** Whether that entry's seal did not hold (it was changed outside plugbox). */
  previousTampered: boolean;
  /** The entry recorded. */
  next: LockEntry;
  /** Whether the content differs from the previous approval. */
  contentChanged: boolean;
  /**
   * Requests and grants approved now that the previous entry did not cover
   * (a tampered one covers nothing).
   */
  added: LockDifference[];
  /** Requests and grants of the previous entry that the new one does not cover (none if tampered). */
  removed: LockDifference[];
}

/**
 * Records a start in the lock (`plug approve`): the entry for what the
 * subject is now, sealed; returns the difference from the previous entry.
 * With `dryRun`, only the difference.
 */
export async function approveLock(
  subject: LockSubject,
  options: LockOptions,
  dryRun = false,
): Promise<Approval> {
  const lockPath = validateLock({ ...options, policy: "same-or-less" }, subject);
  const key = lockKey(subject.cacheDir, options.key);
  const next = entryFor(subject, key);
  const record = (lock: LockFile) => {
    const previous = lock.plugins[subject.plugin];
    lock.plugins[subject.plugin] = next;
    return previous;
  };
  const previous = dryRun
    ? readLock(lockPath, subject.plugin).plugins[subject.plugin]
    : await updateLock(lockPath, subject.plugin, record);
  // A replaced entry put back approved nothing either (review 89).
  const previousTampered = previous !== undefined &&
    (!sealHolds(key, subject.plugin, previous) || sealRevoked(subject.cacheDir, previous.seal));
  // Recorded once the new entry is written: put back, the replaced one approves nothing.
  if (previous && !dryRun) revokeSeal(subject.cacheDir, previous.seal);
  // A previous entry whose seal does not hold approved nothing, and its values are anyone's:
  // compared one by one, a crafted entry of deep paths took `plug approve` 10 s (review 58).
  const approved = previous && !previousTampered ? previous : undefined;
  return {
    plugin: subject.plugin,
    lockPath,
    previous,
    previousTampered,
    next,
    contentChanged: previous !== undefined && previous.hash !== next.hash,
    added: beyondApproval(approved ?? NO_APPROVAL, next),
    removed: approved ? beyondApproval(next, approved) : [],
  };
}

/**
 * Approves a plugin as it is now, with the grants given: plans the start
 * (snapshot, module graph, grants against its manifest) and records its
 * content hash, its manifest's requests and the grants in the lock, sealed.
 * Returns what was added and removed since the previous approval; with
 * `dryRun`, only that, and the lock is not written. With `expectHash` (the
 * content hash, all 64 hex digits, as `plug inspect` shows it) it approves
 * only that content: a folder that changed after it was reviewed is
 * refused, not sealed. Not a prefix: whoever writes both the reviewed and
 * the approved folder finds two whose hashes share 12 digits in about 2^24
 * tries (review 94).
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
 * @throws whatever `previewStart` throws; {@linkcode LockError} when the lock is malformed, or
 * (`unexpected`) the content is not `expectHash`.
 */
export async function approvePlugin(
  module: string | URL,
  options: LaunchOptions & { lock: LockOptions; dryRun?: boolean; expectHash?: string },
): Promise<Approval> {
  // Review 145: null failed as "Cannot destructure property 'lock' of 'options' as it is null".
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot approve plugin "${module}": its options must be an object`);
  }
  // A misspelt option is named, not taken for one not given (review 165).
  refuseUnknownOptions(`Cannot approve plugin "${module}"`, options, APPROVE_KEYS);
  const { lock, dryRun, expectHash, ...launch } = options;
  if (expectHash !== undefined && !/^[0-9a-f]{64}$/.test(expectHash)) {
    throw new TypeError(
      `"expectHash" must be a content hash, 64 lowercase hex digits, got ${
        JSON.stringify(neutralize(String(expectHash), 80))
      }`,
    );
  }
  approvals.add(launch); // its lock is judged below, with the plan's grants
  const plan = await planPlugin(module, launch);
  releaseUnlaunchedPlan(plan); // never launched (review 49)
  // What was reviewed is what is sealed: without it a folder changed between `plug inspect` and
  // `plug approve` was approved, with only a hash line to tell (review 91).
  if (expectHash !== undefined && plan.snapshot.hash !== expectHash) {
    throw new LockError({
      plugin: plan.name,
      lockPath: lock.path,
      reason: "unexpected",
      detail: `"${neutralize(plan.root, 300)}" is content ${
        plan.snapshot.hash.slice(0, 12)
      } now, not ${expectHash.slice(0, 12)} as expected; inspect it again`,
    });
  }
  return await approveLock(
    {
      plugin: plan.name,
      root: plan.root,
      hash: plan.snapshot.hash,
      manifest: plan.manifest.manifest,
      grants: plan.grants,
      // The plan's own, found once: found again here, a relative cacheDir or PLUGBOX_CACHE_DIR
      // named another cache after the host changed its working folder, and the approval was
      // sealed with a key the plan had not checked (review 137).
      cacheDir: plan.cacheDir ?? Deno.realPathSync(launch.cacheDir ?? defaultCacheDir()),
      isolation: plan.isolation,
    },
    lock,
    dryRun,
  );
}
