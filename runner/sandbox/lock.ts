/**
 * The lock at start: a plugin named in `plugbox.lock` starts only as
 * approved. Unchanged content with grants within the approval starts; a
 * change follows the policy (`refuse` it, allow it when it asks for the
 * `same-or-less`, or `ask` the host); anything beyond the approval is
 * refused with what it asks for beyond, as a browser disables an extension
 * update that wants more until the user approves it.
 * @module
 */

import { unlessAborted } from "./abort.ts";
import { type LockDifference, LockError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import {
  claimPath,
  keyPath,
  type LockEntry,
  lockKey,
  readLock,
  sealHolds,
  sealOf,
  updateLock,
} from "./lock_file.ts";
import { revokeSeal, sealRevoked } from "./lock_revoked.ts";
import { defaultCacheDirs } from "./locate.ts";
import { cut, listSome, type Manifest, MANIFEST_KINDS } from "./manifest.ts";
import { isWithinOnDisk, onDiskOnce } from "./on_disk.ts";
import { canonicalLoose, isWithin } from "./paths.ts";
import type { IsolationLayer } from "./isolation.ts";
import type { ResolvedGrants } from "./permissions.ts";

/**
 * What to do when an approved plugin changed: `"refuse"` to start it,
 * start it when it asks for the `"same-or-less"`, or `"ask"` the host's
 * callback (and record the approval in the lock when it says yes).
 *
 * @example
 * ```ts
 * import type { LockPolicy } from "./lock.ts";
 * const policy: LockPolicy = Deno.env.get("CI") ? "refuse" : "same-or-less";
 * ```
 */
export type LockPolicy = "refuse" | "same-or-less" | "ask";

/**
 * A change to approve: what the lock holds, what would be recorded, and
 * what the plugin asks for beyond the approval.
 *
 * @example
 * ```ts ignore
 * const ask = (change: LockChange) => {
 *   console.error(`${change.plugin} changed; it asks for more:`, change.beyond);
 *   return confirm("Approve?");
 * };
 * ```
 */
export interface LockChange {
  /** The plugin's name. */
  plugin: string;
  /** The lock file. */
  lockPath: string;
  /** The approved entry; absent when the plugin was never approved. */
  previous?: LockEntry;
  /** The entry that approving records. */
  next: LockEntry;
  /** Whether the plugin's content differs from the approved content. */
  contentChanged: boolean;
  /** What it asks for beyond the approval. */
  beyond: LockDifference[];
}

/**
 * Starting only what was approved.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Fetcher } from "./plugins/fetcher/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/fetcher/main.ts", {
 *   contracts: [Fetcher],
 *   permissions: { net: ["example.com:443"] },
 *   lock: { path: "./plugbox.lock", policy: "same-or-less" },
 * });
 * ```
 */
export interface LockOptions {
  /** The lock file (created by `plug approve` or an approving `ask`). */
  path: string;
  /**
   * What to do with a plugin that changed since its approval.
   * @default {"same-or-less"}
   */
  policy?: LockPolicy;
  /** With `policy: "ask"`: decides each change; `true` approves and records it. */
  ask?: (change: LockChange) => boolean | Promise<boolean>;
  /**
   * The secret that seals entries. Defaults to a random key made on first
   * use in plugbox's cache (`lock.key`), so a lock holds on the machine that
   * approved it; pass the same secret everywhere to share one.
   */
  key?: string;
}

/** What a start is, for the lock. */
export interface LockSubject {
  plugin: string;
  root: string;
  hash: string;
  manifest: Manifest;
  grants: ResolvedGrants;
  cacheDir: string;
  /** The layer it runs under: an approval holds in the view it was made in (review 89). */
  isolation: IsolationLayer;
}

/**
 * Whether the approved `approved` covers `value`. Paths compare as they
 * were made: a grant in the lock is the canonical path of its approval, and
 * the new one today's canonical path, both computed once; resolving the
 * approved one again would judge it in today's view, where a link the plugin
 * put in place makes it lead to the new one (review 41). A manifest's
 * requests are spellings, made canonical once per check by `canonical`.
 */
function coversValue(
  kind: string,
  approved: string,
  value: string,
  canonical?: (path: string) => string,
): boolean {
  if (approved === "*") return true;
  if (value === "*") return false;
  if (kind === "read" || kind === "write" || kind === "ffi") {
    return canonical ? isWithin(canonical(value), canonical(approved)) : isWithin(value, approved);
  }
  if (kind === "net") return value === approved || value.replace(/:\d+$/, "") === approved;
  return value === approved;
}

/** The entry a start would record. */
export function entryFor(subject: LockSubject, key: string): LockEntry {
  const requests: Record<string, string[]> = {};
  for (const kind of MANIFEST_KINDS) {
    const values = (subject.manifest.permissions[kind] ?? []).map((r) => r.value);
    if (values.length) requests[kind] = [...new Set(values)].sort();
  }
  const g = subject.grants;
  const entry = {
    root: subject.root,
    hash: subject.hash,
    requests,
    grants: {
      read: [...g.read],
      write: [...g.write],
      net: [...g.net],
      env: Object.keys(g.env).sort(),
      sys: [...g.sys],
      run: [...g.run],
      ffi: [...g.ffi],
      all: g.all,
    },
    approvedAt: new Date().toISOString(),
    isolation: subject.isolation,
  };
  return { ...entry, seal: sealOf(key, subject.plugin, entry) };
}

/** Layers by what they hold: a start under a lower one than its approval's is beyond it. */
const LAYER_STRENGTH: Record<IsolationLayer, number> = { deno: 0, landlock: 1, os: 2 };

/** An entry that approves nothing: what a plugin never approved is compared with. */
export const NO_APPROVAL: LockEntry = {
  root: "",
  hash: "",
  requests: {},
  grants: { read: [], write: [], net: [], env: [], sys: [], run: [], ffi: [], all: false },
  approvedAt: "",
  seal: "",
};

/** What `next` asks for that `approved` does not cover. */
export function beyondApproval(approved: LockEntry, next: LockEntry): LockDifference[] {
  const out: LockDifference[] = [];
  // Each spelling once: a manifest of many deep paths would otherwise be walked once a pair.
  const seen = new Map<string, string>();
  const canonical = (path: string) => {
    let real = seen.get(path);
    if (real === undefined) seen.set(path, real = canonicalLoose(path));
    return real;
  };
  for (const [kind, values] of Object.entries(next.requests)) {
    for (const value of values) {
      if (!(approved.requests[kind] ?? []).some((a) => coversValue(kind, a, value, canonical))) {
        out.push({
          in: "requests",
          kind,
          value: neutralize(value, 300),
          ...requestCovers(kind, value, canonical),
        });
      }
    }
  }
  const lists = ["read", "write", "net", "env", "sys", "run", "ffi"] as const;
  for (const kind of lists) {
    for (const value of next.grants[kind]) {
      if (!approved.grants[kind].some((a) => coversValue(kind, a, value))) {
        out.push({ in: "grants", kind, value });
      }
    }
  }
  if (next.grants.all && !approved.grants.all) out.push({ in: "grants", kind: "all", value: "*" });
  // A weaker layer than the approval's: what the grants let a plugin do is not what was approved
  // (a run grant's program runs on the host under the Deno layer, in the sandbox under the OS
  // layer; review 89 approved under "os" and ran under "deno", "approved, unchanged").
  if (LAYER_STRENGTH[next.isolation ?? "os"] < LAYER_STRENGTH[approved.isolation ?? "deno"]) {
    out.push({ in: "grants", kind: "isolation", value: next.isolation ?? "os" });
  }
  return out;
}

/**
 * What a path request covers, when its spelling says otherwise: `plug approve` showed the spelling
 * alone, cut at 200 characters, and `"/tmp/aaa…(190 a)/../../home"` read as a folder in /tmp
 * while the approval recorded a request that covers /home (review 123).
 */
function requestCovers(
  kind: string,
  value: string,
  canonical: (path: string) => string,
): { covers?: string } {
  if (value === "*" || (kind !== "read" && kind !== "write" && kind !== "ffi")) return {};
  const covers = canonical(value);
  return covers === value ? {} : { covers: neutralize(covers, 300) };
}

/** `requests net "*", grants read "/etc"`, `requests read "/etc" (written "/srv/../etc")` */
export function describeDifferences(differences: readonly LockDifference[]): string {
  // Bounded: a manifest's requests are the plugin's, and may be many (review 41).
  return listSome(
    differences,
    (d) =>
      d.covers === undefined
        ? `${d.in} ${d.kind} "${cut(d.value, 200)}"`
        : `${d.in} ${d.kind} "${cut(d.covers, 200)}" (written "${cut(d.value, 200)}")`,
  ).join(", ");
}

/** The lock's path, once the options and its place are checked. */
export function validateLock(options: LockOptions, subject: LockSubject): string {
  checkLockOptions(options);
  const path = lockPlace(options.path, subject.root);
  // One check: each path and the mounts looked up once (review 141, as in refuseKeyReaders).
  onDiskOnce(() => refuseLockWriters(path, subject, options));
  return path;
}

/** Refuses a write grant over the lock or its claim, and readers of the sealing key. */
function refuseLockWriters(path: string, subject: LockSubject, options: LockOptions): void {
  const writer = subject.grants.write.find((w) => isWithinOnDisk(path, w));
  if (writer) {
    throw new TypeError(
      `Cannot grant write "${writer}": it covers the lock "${path}", and the plugin could approve itself`,
    );
  }
  // The claim's file: a plugin that could remove it mid-change would let two changes run at once.
  const claim = claimPath(path);
  const claimWriter = subject.grants.write.find((w) => isWithinOnDisk(claim, w));
  if (claimWriter) {
    throw new TypeError(
      `Cannot grant write "${claimWriter}": it covers "${claim}", where changes of the lock "${path}" claim it`,
    );
  }
  // The seal's key: a plugin that read it could seal an entry approving its own next version.
  // With a key of its own the cache's seals nothing of this lock; the default cache's still seals
  // `plug`'s approvals (review 94).
  const cache = options.key === undefined ? subject.cacheDir : undefined;
  refuseKeyReaders(subject.grants, cache, "beside the lock");
}

/** Refuses lock options of the wrong shape. */
function checkLockOptions(options: LockOptions): void {
  if (typeof options !== "object" || options === null || typeof options.path !== "string") {
    throw new TypeError('Cannot use the lock: "lock" must be { path, policy?, ask?, key? }');
  }
  const policy = options.policy ?? "same-or-less";
  if (!["refuse", "same-or-less", "ask"].includes(policy)) {
    throw new TypeError(
      `Cannot use the lock: "policy" must be "refuse", "same-or-less" or "ask", got "${policy}"`,
    );
  }
  if (policy === "ask" && typeof options.ask !== "function") {
    throw new TypeError('Cannot use the lock: policy "ask" needs an "ask" callback');
  }
}

/**
 * The lock's canonical path (like the root and the grants: a spelling
 * through a link is the file it leads to), refused in the plugin's folder
 * or where its name holds what a message must not quote raw.
 */
function lockPlace(spelled: string, root: string): string {
  const path = canonicalLoose(spelled);
  if (isWithin(path, root)) {
    // The folder's name may be its author's (a host naming the plugin itself): shown neutralised.
    throw new TypeError(
      `Cannot use lock "${neutralize(path, 300)}": it lies in the plugin's folder "${
        neutralize(root, 300)
      }", which the plugin's author controls`,
    );
  }
  // Resolved, its name may be anyone's who can put a link at the host's spelling (a pull request
  // that makes plugbox.lock a link to a file named with ESC or bidi controls), and every message
  // about the lock quotes it (review 104).
  if (neutralize(path, Number.MAX_SAFE_INTEGER) !== path) {
    throw new TypeError(
      `Cannot use lock "${
        neutralize(path, 300)
      }": its path holds control or bidi characters; name a lock file whose path has none`,
    );
  }
  return path;
}

/**
 * Refuses a grant covering plugbox's sealing key (`lock.key` in the cache
 * `cacheDir`, and in the default cache): a plugin that read it could seal an
 * entry approving its own next version, or another plugin's. A start
 * without a lock is refused it too (review 92: it read the key that the
 * host's locked starts, before and after it, are sealed with), whether or
 * not the key is made yet. The default cache's key seals the approvals of
 * `plug` and this user's other hosts, for a host with a cache of its own too
 * (review 94: a plugin granted the home folder read it).
 *
 * @example
 * ```ts ignore
 * refuseKeyReaders(grants, cacheDir, "without a lock"); // TypeError for read ["~"]
 * ```
 */
export function refuseKeyReaders(
  grants: Pick<ResolvedGrants, "read" | "write">,
  cacheDir: string | undefined,
  where: string,
): void {
  // One check: each path and the mounts looked up once. Each pair of a key and a grant read
  // /proc/self/mountinfo again: with 2,000 mounts, 25 grants took 274 ms of the host's thread a
  // start, 8 ms in one check (review 141).
  onDiskOnce(() => refuseReaders(grants, cacheDir, where));
}

function refuseReaders(
  grants: Pick<ResolvedGrants, "read" | "write">,
  cacheDir: string | undefined,
  where: string,
): void {
  // Every default cache's: a host whose environment names a cache of its own (PLUGBOX_CACHE_DIR)
  // gave a plugin the home folder, and so the key of plug's approvals (review 96).
  const defaults = defaultCacheDirs().map((dir) => keyPath(canonicalLoose(dir)));
  // And every cache an earlier start in this process used: another host's, whose key seals its
  // own starts' approvals (review 96).
  const own = cacheDir === undefined ? [] : [keyPath(cacheDir)];
  const keys = [...new Set([...own, ...[...usedCaches].map(keyPath), ...defaults])];
  const given = [...grants.read, ...grants.write];
  for (const key of keys) {
    const reader = given.find((g) => isWithinOnDisk(key, g));
    if (reader) {
      const ways = defaults.includes(key)
        ? "narrow the grant (it is the default cache's key, which plug's approvals are sealed with)"
        : "narrow the grant, set cacheDir elsewhere, or give the lock a key";
      throw new TypeError(
        `Cannot grant "${reader}" ${where}: it covers plugbox's sealing key "${key}", and the plugin could seal its own approval; ${ways}`,
      );
    }
  }
  if (cacheDir !== undefined && !usedCaches.has(cacheDir)) {
    // A cache new to this process: an earlier start may hold its key already.
    const key = keyPath(cacheDir);
    const earlier = [...earlierGrants].find((g) => isWithinOnDisk(key, g));
    if (earlier) {
      throw new TypeError(
        `Cannot use the cache "${cacheDir}": its sealing key "${key}" lies in "${earlier}", given to a plugin started earlier in this process, which could seal its own approval; set cacheDir elsewhere, or give the lock a key`,
      );
    }
    usedCaches.add(cacheDir);
  }
  for (const grant of given) earlierGrants.add(grant);
}

/**
 * The caches this process's starts used, whose keys seal their approvals,
 * and the read and write grants its starts were given: two hosts in one
 * process, each with a cache of its own, gave a plugin of one the other's
 * key (review 96). Kept for the process's life, as a plugin keeps what it read.
 */
const usedCaches = new Set<string>();
const earlierGrants = new Set<string>();

/**
 * Checks a start against the lock and applies the policy; returns notes for
 * the plan. An approving `ask` records the new entry. At `options.signal`'s
 * abort it stops waiting for `ask`, records nothing and rejects with the
 * abort's reason.
 *
 * @throws {LockError} when the start is refused; {@linkcode TypeError} for
 * bad options, a lock inside the plugin's folder, or a write grant over it.
 */
export async function checkLock(
  subject: LockSubject,
  options: LockOptions & { signal?: AbortSignal },
): Promise<string[]> {
  const lockPath = validateLock(options, subject);
  const policy = options.policy ?? "same-or-less";
  const key = lockKey(subject.cacheDir, options.key);
  const { plugin } = subject;
  const lock = readLock(lockPath, plugin);
  const previous = lock.plugins[plugin];
  const fail = (reason: string, detail: string, beyond?: LockDifference[]): never => {
    throw new LockError({ plugin, lockPath, reason, detail, beyond });
  };
  if (previous && !sealHolds(key, plugin, previous)) {
    fail(
      "tampered",
      `its entry in "${lockPath}" does not carry plugbox's seal: it was changed outside plug approve (or sealed with another key); review it and approve again`,
    );
  }
  if (previous && sealRevoked(subject.cacheDir, previous.seal)) {
    fail(
      "tampered",
      `its entry in "${lockPath}" was replaced by a later approval (${
        neutralize(previous!.approvedAt, 64)
      }'s, put back since); review it and approve again`,
    );
  }
  const next = entryFor(subject, key);
  const contentChanged = previous !== undefined && previous.hash !== next.hash;
  const beyond = beyondApproval(previous ?? NO_APPROVAL, next);
  if (previous && !contentChanged && beyond.length === 0) return [`lock: approved, unchanged`];
  const change: LockChange = { plugin, lockPath, previous, next, contentChanged, beyond };
  if (policy === "ask") {
    // A start aborted while the host decides waits no longer, and records nothing it decides.
    const approved = await unlessAborted(Promise.resolve(options.ask!(change)), options.signal);
    if (!approved) fail("declined", `the host declined its change`, beyond);
    // Read again: another host may have written the lock while the callback decided. A stop while
    // another change holds the lock's claim waits no longer either, and records nothing.
    const replaced = await updateLock(lockPath, plugin, (current) => {
      const was = current.plugins[plugin];
      current.plugins[plugin] = next;
      return was;
    }, options.signal);
    if (replaced) revokeSeal(subject.cacheDir, replaced.seal);
    return [`lock: change approved by the host and recorded in "${lockPath}"`];
  }
  if (!previous) {
    fail("not-approved", `it is not approved in "${lockPath}"; review it and run plug approve`);
  }
  if (beyond.length > 0) {
    fail(
      "beyond-approval",
      `it asks for more than "${lockPath}" approved: ${
        describeDifferences(beyond)
      }; review it and run plug approve`,
      beyond,
    );
  }
  if (policy === "refuse") {
    fail(
      "changed",
      `its content changed since it was approved in "${lockPath}" (${
        previous!.hash.slice(0, 12)
      } then, ${
        next.hash.slice(0, 12)
      } now) and the policy refuses changes; review it and run plug approve`,
    );
  }
  return [`lock: content changed since approval; it asks for no more than was approved`];
}
