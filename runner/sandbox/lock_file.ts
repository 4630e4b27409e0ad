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
/** A claim older than this was left by a process that died while it changed the lock. */
const CLAIM_STALE_MS = 30_000;

/**
 * Reads the lock, lets `change` change it, and writes it whole, with no
 * other plugbox process doing the same meanwhile. Two approvals at once
 * (parallel CI jobs) each wrote back the other's entry as they had read it,
 * so the last undid the first, a removed grant included, while both said
 * they approved (review 42). The claim is a file made exclusively beside the
 * lock, in a folder only the lock's own writers can write; one left by a
 * process that died is taken over after 30 s, and a change removes only
 * its own.
 *
 * @throws {LockError} (`busy`) when another change holds the claim for over
 * 10 s; what `readLock` and `writeLock` throw.
 */
export async function updateLock<T>(
  path: string,
  plugin: string,
  change: (lock: LockFile) => T,
): Promise<T> {
  const claim = join(dirname(path), `.${basename(path)}.claim`);
  const mine = `${Deno.pid} ${crypto.randomUUID()}\n`;
  const deadline = Date.now() + CLAIM_WAIT_MS;
  for (;;) {
    try {
      Deno.writeTextFileSync(claim, mine, { createNew: true, mode: 0o600 });
      break;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new TypeError(`Cannot write lock "${path}": its folder does not exist`);
      }
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const abandoned = claimAbandoned(claim);
    if (abandoned !== undefined) {
      takeOver(claim, abandoned);
      continue;
    }
    if (Date.now() > deadline) {
      throw new LockError({
        plugin,
        lockPath: path,
        reason: "busy",
        detail: `another process has been changing lock "${path}" for over ${
          CLAIM_WAIT_MS / 1000
        } s; try again (or remove "${claim}" if no plug approve is running)`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
  }
  try {
    const lock = readLock(path, plugin);
    const result = change(lock);
    // Still ours? A process that judged an old claim abandoned may have moved ours aside and
    // another made its own meanwhile (review 46): then ours is not written.
    if (!claimIsMine(claim, mine)) {
      throw new LockError({
        plugin,
        lockPath: path,
        reason: "busy",
        detail:
          `another process took over the claim on lock "${path}" while this change was made; try again`,
      });
    }
    writeLock(path, lock);
    return result;
  } finally {
    // Only our own: had ours been taken over, the claim there now is another change's.
    if (claimIsMine(claim, mine)) {
      try {
        Deno.removeSync(claim);
      } catch {
        // gone already
      }
    }
  }
}

function claimIsMine(claim: string, mine: string): boolean {
  try {
    return Deno.readTextFileSync(claim) === mine;
  } catch {
    return false;
  }
}

/**
 * The text of a claim left by a process that died while it changed the
 * lock (older than 30 s, and the process it names no longer runs here), or
 * undefined. A process that is only slow, or stopped, keeps its claim
 * (review 44).
 */
function claimAbandoned(claim: string): string | undefined {
  try {
    const age = Date.now() - (Deno.statSync(claim).mtime?.getTime() ?? 0);
    if (age <= CLAIM_STALE_MS) return undefined;
    const text = Deno.readTextFileSync(claim);
    const pid = Number(text.split(" ", 1)[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0) return text;
    try {
      Deno.statSync(`/proc/${pid}`);
      return undefined; // still running (or its number taken again: wait for the deadline)
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? text : undefined;
    }
  } catch {
    return undefined; // released meanwhile, or unreadable: wait
  }
}

/**
 * Moves an abandoned claim aside, by a rename only one process can win, and
 * removes it if it is still the one judged abandoned. Two processes that
 * judged it so at once each removed the claim the other had just made, and
 * both changed the lock (review 45). A fresh claim moved aside by mistake is
 * put back unless another was made meanwhile.
 */
function takeOver(claim: string, abandoned: string): void {
  const aside = `${claim}.${crypto.randomUUID()}`;
  try {
    Deno.renameSync(claim, aside);
  } catch {
    return; // another process moved it first
  }
  try {
    if (Deno.readTextFileSync(aside) !== abandoned) Deno.linkSync(aside, claim);
  } catch {
    // a new claim is there already: the one moved aside is lost to its maker, who removes none
  }
  try {
    Deno.removeSync(aside);
  } catch {
    // gone already
  }
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
