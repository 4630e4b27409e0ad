/**
 * The lock file, `plugbox.lock`: for each approved plugin, the content hash
 * of its snapshot, the permissions its manifest requested and the grants
 * approved, sealed with an HMAC keyed by a secret only this host's user
 * holds. The file is the user's, readable and reviewable like `deno.lock`;
 * the seal says an entry was written by plugbox with that key, so an edit
 * made outside `plug approve` (by a plugin granted write over it, a merge,
 * a hand) is refused rather than trusted.
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { z } from "npm:zod@^4.1.0";
import { LockError } from "../errors.ts";
import { neutralize, terminalJson } from "../wire/mod.ts";

/**
 * One approved plugin in the lock.
 *
 * @example
 * ```ts ignore
 * import type { LockEntry } from "@plugbox/plugbox";
 *
 * const describe = (name: string, e: LockEntry) =>
 *   `${name}: ${e.hash.slice(0, 12)}, approved ${e.approvedAt}, reads ${e.grants.read.join(", ")}`;
 * ```
 */
export interface LockEntry {
  /** The plugin's folder when it was approved. */
  root: string;
  /** SHA-256 of its snapshot (content and layout of the folder). */
  hash: string;
  /** The values its `plugbox.json` requested, by kind. */
  requests: Record<string, string[]>;
  /** The grants approved (variable names, never values). */
  grants: {
    read: string[];
    write: string[];
    net: string[];
    env: string[];
    sys: string[];
    run: string[];
    ffi: string[];
    all: boolean;
  };
  /** When it was approved (ISO 8601). */
  approvedAt: string;
  /** HMAC-SHA256 of the fields above and the plugin's name, hex. */
  seal: string;
}

/** The whole lock file. */
export interface LockFile {
  version: 1;
  plugins: Record<string, LockEntry>;
}

/** Largest lock file read, in bytes. */
const MAX_LOCK_BYTES = 4 * 1024 * 1024;

const Values = z.array(z.string().max(4096)).max(1000);
const Entry = z.strictObject({
  root: z.string().max(4096),
  hash: z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in hex"),
  requests: z.record(z.string().max(16), Values),
  grants: z.strictObject({
    read: Values,
    write: Values,
    net: Values,
    env: Values,
    sys: Values,
    run: Values,
    ffi: Values,
    all: z.boolean(),
  }),
  approvedAt: z.string().max(64),
  seal: z.string().regex(/^[0-9a-f]{64}$/, "must be an HMAC-SHA256 in hex"),
});
const LockSchema = z.strictObject({
  version: z.literal(1),
  plugins: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/), Entry),
});

/**
 * Reads and validates the lock; a missing file is an empty lock.
 *
 * @throws {LockError} (`malformed`) naming the field, for anything else.
 */
export function readLock(path: string, plugin: string): LockFile {
  let text: string;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile || info.size > MAX_LOCK_BYTES) {
      throw new LockError({
        plugin,
        lockPath: path,
        reason: "malformed",
        detail: `lock "${path}" must be a regular file of at most ${MAX_LOCK_BYTES} bytes`,
      });
    }
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, plugins: {} };
    throw error;
  }
  const fail = (detail: string): never => {
    throw new LockError({
      plugin,
      lockPath: path,
      reason: "malformed",
      detail: `lock "${path}" ${detail}; fix or remove it, then approve again with plug approve`,
    });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    fail(`is not JSON: ${neutralize((error as Error).message, 200)}`);
  }
  const parsed = LockSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The path holds the lock's own keys: text anyone who can write the lock wrote.
    fail(`is malformed at ${neutralize(issue.path.join("."), 200) || "(root)"}: ${issue.message}`);
  }
  return parsed.data as LockFile;
}

/** Writes the lock whole, through a temporary file and a rename. */
export function writeLock(path: string, lock: LockFile): void {
  const sorted: LockFile = {
    version: 1,
    plugins: Object.fromEntries(
      Object.entries(lock.plugins).sort(([a], [b]) => a.localeCompare(b)),
    ),
  };
  const temporary = join(dirname(path), `.${crypto.randomUUID()}.plugbox.lock.tmp`);
  try {
    // Reviewed in a terminal or a diff: the manifest's bidi and C1 characters are written escaped.
    Deno.writeTextFileSync(temporary, terminalJson(sorted, 2) + "\n", { mode: 0o644 });
  } catch (cause) {
    if (!(cause instanceof Deno.errors.NotFound)) throw cause;
    throw new TypeError(`Cannot write lock "${path}": its folder does not exist`, { cause });
  }
  Deno.renameSync(temporary, path);
}

/** How long a change of the lock waits for another process's change to end. */
const CLAIM_WAIT_MS = 10_000;

/**
 * Reads the lock, lets `change` change it, and writes it whole, with no
 * other plugbox change of it meanwhile, in this process or another. Two
 * approvals at once (parallel CI jobs) each wrote back the other's entry as
 * they had read it, so the last undid the first, a removed grant included,
 * while both said they approved (review 42).
 *
 * The claim is an OS lock (`flock`) on a file kept beside the lock,
 * `.plugbox.lock.claim`. The kernel lets one open file hold it and drops it
 * when its process dies, so nothing is ever judged abandoned or taken over.
 * A claim made as a file, taken over once old, let two changes run together
 * whenever three processes raced for one left by a dead process (reviews 44
 * to 46, and a CI run). The file is never removed: one process removing it
 * while another waited on it would give two processes a claim each.
 *
 * @throws {LockError} (`busy`) when another change holds the claim for over
 * 10 s; what `readLock` and `writeLock` throw.
 */
export async function updateLock<T>(
  path: string,
  plugin: string,
  change: (lock: LockFile) => T,
): Promise<T> {
  const claim = openClaim(path);
  try {
    const deadline = Date.now() + CLAIM_WAIT_MS;
    while (!claim.tryLockSync(true)) {
      if (Date.now() > deadline) {
        throw new LockError({
          plugin,
          lockPath: path,
          reason: "busy",
          detail: `another process has been changing lock "${path}" for over ${
            CLAIM_WAIT_MS / 1000
          } s; try again once it ends`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
    const lock = readLock(path, plugin);
    const result = change(lock);
    writeLock(path, lock);
    return result;
  } finally {
    claim.close(); // releases the claim
  }
}

/**
 * Opens the file the claim is held on, `.<lock>.claim` beside the lock.
 * It is made exclusively, or opened only when what is there is a regular
 * file and still the one opened: a link planted there would have the host
 * make or lock a file elsewhere.
 */
function openClaim(path: string): Deno.FsFile {
  const claim = join(dirname(path), `.${basename(path)}.claim`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return Deno.openSync(claim, { read: true, write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new TypeError(`Cannot write lock "${path}": its folder does not exist`);
      }
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    try {
      const seen = Deno.lstatSync(claim);
      if (!seen.isFile) {
        throw new TypeError(
          `Cannot change lock "${path}": "${claim}" beside it is not a regular file; remove it`,
        );
      }
      const file = Deno.openSync(claim, { read: true }); // flock needs no more
      if (file.statSync().ino === seen.ino) return file;
      file.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    // removed or replaced between the look and the open: look again
  }
  throw new TypeError(`Cannot change lock "${path}": "${claim}" beside it keeps being replaced`);
}

/**
 * The host's sealing key: given, or a random secret kept in the cache
 * (created on first use, readable by this user only).
 */
export function lockKey(cacheDir: string, given?: string): string {
  if (given !== undefined) {
    if (typeof given !== "string" || given.length < 16) {
      throw new TypeError('Cannot use the lock: "key" must be a string of at least 16 characters');
    }
    return given;
  }
  const path = join(cacheDir, "lock.key");
  try {
    const key = Deno.readTextFileSync(path).trim();
    if (/^[0-9a-f]{64}$/.test(key)) return key;
    throw new TypeError(`Cannot use the lock: key file "${path}" is not 64 hex digits; remove it`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const key = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  try {
    Deno.writeTextFileSync(path, key + "\n", { mode: 0o600, createNew: true });
    return key;
  } catch (error) {
    // Another process created it first: use theirs.
    if (error instanceof Deno.errors.AlreadyExists) return lockKey(cacheDir);
    throw error;
  }
}

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

/** The seal of an entry: an HMAC over its fields in a fixed order, and the plugin's name. */
export function sealOf(key: string, plugin: string, entry: Omit<LockEntry, "seal">): string {
  const requests = Object.keys(entry.requests).sort().map((k) => [k, sorted(entry.requests[k])]);
  const g = entry.grants;
  const grants = [g.read, g.write, g.net, g.env, g.sys, g.run, g.ffi].map(sorted);
  const canonical = JSON.stringify([
    "plugbox.lock/1",
    plugin,
    entry.root,
    entry.hash,
    requests,
    grants,
    g.all,
    entry.approvedAt,
  ]);
  return createHmac("sha256", key).update(canonical).digest("hex");
}

/** True when the entry's seal was made with `key` over exactly these fields. */
export function sealHolds(key: string, plugin: string, entry: LockEntry): boolean {
  const expected = Buffer.from(sealOf(key, plugin, entry), "hex");
  const actual = Buffer.from(entry.seal, "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
