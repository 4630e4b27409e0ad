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
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "npm:zod@^4.1.0";
import { LockError } from "../errors.ts";
import { parseUntrusted } from "../untrusted_parse.ts";
import { neutralize, terminalJson } from "../wire/mod.ts";
import { parseCapped, refuseKeysTwice } from "./json_file.ts";
import { type Claim, osReason, waitForClaim } from "./claim_file.ts";
import { hostUid } from "./grant_rules.ts";
import { MANIFEST_KINDS, type PermissionKind } from "./manifest.ts";

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
  /**
   * The layer it was approved under: a start under a weaker one (`"deno"`
   * below `"landlock"` below `"os"`) is beyond the approval. None in entries
   * made before it was recorded, which approve any layer.
   */
  isolation?: "os" | "landlock" | "deno";
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

/**
 * The lock's shape before it is parsed: the schema is five levels deep, and
 * a thousand plugins of a hundred values each hold some 130,000 members.
 * Unscanned, one entry's 280,000 request kinds (3.5 MB) cost every start of
 * every plugin 0.5 s to check (review 104).
 */
const LOCK_STRUCTURE = { maxDepth: 6, maxMembers: 500_000 };

/** The kinds an entry's `requests` may hold: a manifest's. */
const REQUEST_KINDS = MANIFEST_KINDS as [PermissionKind, ...PermissionKind[]];

const Values = z.array(z.string().max(4096)).max(1000);
const Entry = z.strictObject({
  root: z.string().max(4096),
  hash: z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in hex"),
  requests: z.partialRecord(z.enum(REQUEST_KINDS), Values),
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
  isolation: z.enum(["os", "landlock", "deno"]).optional(),
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
  const bytes = readLockBytes(path, (detail) => {
    throw new LockError({ plugin, lockPath: path, reason: "malformed", detail });
  });
  // Null-prototype: a plugin may be named "toString" or "constructor", and an entry is looked up by
  // its name; in a plain object the absent one was Object.prototype's member (review 89).
  if (bytes === undefined) return { version: 1, plugins: Object.create(null) };
  const fail = (detail: string): never => {
    throw new LockError({
      plugin,
      lockPath: path,
      reason: "malformed",
      detail: `lock "${path}" ${detail}; fix or remove it, then approve again with plug approve`,
    });
  };
  const { raw, shape } = parseCapped(bytes, LOCK_STRUCTURE, fail);
  // A reviewer of the lock reads the first entry of a plugin, and the start trusts the last
  // (review 104, as review 58 found in the manifest).
  refuseKeysTwice(raw, shape, fail);
  // zod stops at the first problem: without it 300,000 empty entries in a 3.8 MB lock made 2.1
  // million issues, 3.7 s and 1.5 GB to say the first; an inner record's 450,000 bad "requests"
  // overran the stack (review 81).
  const parsed = parseUntrusted(LockSchema, raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The path holds the lock's own keys, and zod's message may quote one (an unknown key): text
    // anyone who can write the lock wrote (review 58).
    fail(
      `is malformed at ${neutralize(issue.path.join("."), 200) || "(root)"}: ${
        neutralize(issue.message, 300)
      }`,
    );
  }
  const data = parsed.data as LockFile;
  return { version: 1, plugins: Object.assign(Object.create(null), data.plugins) };
}

/**
 * The lock's bytes, or undefined when there is none. Read from the open file,
 * to a bound: only a regular file of 1 to {@linkcode MAX_LOCK_BYTES} bytes,
 * not a link, opened without blocking. A lock reached through a link to
 * `/proc/self/pagemap` (size 0, endless) took 11 GB, and one to `/proc/kmsg`
 * hung the host for good (review 58).
 */
function readLockBytes(path: string, refuse: (detail: string) => never): Uint8Array | undefined {
  let fd: number;
  try {
    // O_NOCTTY: a folder on the way may lead to /dev/pts; O_NOFOLLOW judges the last name only.
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    fd = openSync(path, flags | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") return undefined;
    // O_NOFOLLOW's ELOOP is the last name's; a loop among the folders on the way is ELOOP too.
    if (code === "ELOOP" && isLink(path)) {
      refuse(`lock "${path}" is a link; give the file it leads to`);
    }
    if (error instanceof Deno.errors.NotCapable) throw error;
    // A folder on the way that is a file, or not searchable, a name too long, a terminal with no
    // device: the bare "ENOTDIR: not a directory, open ..." was the CLI's exit code 1 (review 165).
    refuse(`lock "${path}" cannot be read: ${osReason(error).replace(/, open '.*$/s, "")}`);
  }
  try {
    const info = fstatSync(fd);
    const shape = `lock "${path}" must be a regular file of 1 to ${MAX_LOCK_BYTES} bytes`;
    if (!info.isFile() || info.size === 0 || info.size > MAX_LOCK_BYTES) refuse(shape);
    const bytes = new Uint8Array(info.size + 1);
    let at = 0;
    while (at < bytes.length) {
      const read = readSync(fd, bytes, at, bytes.length - at, null);
      if (read === 0) break;
      at += read;
    }
    if (at > info.size) refuse(`${shape}, and it grew while it was read`);
    return bytes.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` itself is a symbolic link. */
function isLink(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
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
    Deno.renameSync(temporary, path);
  } catch (cause) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // not made
    }
    if (cause instanceof Deno.errors.NotFound) {
      throw new TypeError(`Cannot write lock "${path}": its folder does not exist`, { cause });
    }
    throw new TypeError(`Cannot write lock "${path}": ${osReason(cause)}`, { cause });
  }
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
 * The claim is an OS lock (`flock`) held on the file `.<lock>.claim` beside
 * the lock while that file is there: see {@linkcode claimLock}. The kernel
 * drops it when its process dies, so nothing is judged abandoned or taken
 * over (a claim made as a file and taken over once old let two changes run
 * together when three processes raced for one left by a dead process:
 * reviews 44 to 46, a CI run).
 *
 * At `signal`'s abort while another change holds the claim, it stops
 * waiting and rejects with the abort's reason, having changed nothing.
 * `waitMs` is how long it waits for another change (10 s; a test of the
 * refusal need not wait that long).
 *
 * @throws {LockError} (`busy`) when another change holds the claim for over
 * 10 s; {@linkcode TypeError} when the lock's place is not one a lock can
 * be written in; what `readLock` throws.
 */
export async function updateLock<T>(
  path: string,
  plugin: string,
  change: (lock: LockFile) => T,
  signal?: AbortSignal,
  waitMs = CLAIM_WAIT_MS,
): Promise<T> {
  checkLockPlace(path);
  const claim = await claimLock(path, plugin, waitMs, signal);
  try {
    const lock = readLock(path, plugin);
    const result = change(lock);
    writeLock(path, lock);
    return result;
  } finally {
    claim.release();
  }
}

/** Refuses a lock path no lock can be written at, before anything is made beside it. */
function checkLockPlace(path: string): void {
  let found: Deno.FileInfo;
  try {
    found = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      try {
        if (Deno.statSync(dirname(path)).isDirectory) return; // a new lock
      } catch {
        // below
      }
      throw new TypeError(`Cannot write lock "${path}": its folder does not exist`);
    }
    throw new TypeError(`Cannot change lock "${path}": ${osReason(error)}`);
  }
  if (!found.isFile) {
    throw new TypeError(
      `Cannot change lock "${path}": it is ${
        found.isSymlink ? "a link that leads nowhere" : "not a regular file"
      }; name the lock file itself`,
    );
  }
}

/** Where a change of the lock at `path` holds its claim: `.<lock>.claim` beside it. */
export function claimPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.claim`);
}

/**
 * Claims a lock for one change, at `.<lock>.claim` beside it (a file that
 * exists only while a change holds it: {@linkcode waitForClaim}), waiting for
 * another change within {@linkcode CLAIM_WAIT_MS}.
 */
async function claimLock(
  path: string,
  plugin: string,
  waitMs: number,
  signal?: AbortSignal,
): Promise<Claim> {
  const claim = claimPath(path);
  return await waitForClaim(claim, {
    signal,
    waitMs,
    fail: (detail) => new TypeError(`Cannot change lock "${path}": ${detail}`),
    busy: () =>
      new LockError({
        plugin,
        lockPath: path,
        reason: "busy",
        detail: `another change of lock "${path}" has held its claim "${claim}" for over ${
          waitMs / 1000
        } s; try again once it ends (or remove the claim if no plug approve is running)`,
      }),
  });
}

/** The file of the host's sealing key, when none is given: `lock.key` in the cache. */
export function keyPath(cacheDir: string): string {
  return join(cacheDir, "lock.key");
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
  const path = keyPath(cacheDir);
  const uid = hostUid(cacheDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = readKey(path, uid);
    if (found !== undefined) {
      if (found.bare) lengthenKeyLine(path, found.key);
      return found.key;
    }
    const made = linkNewKey(path);
    if (made !== undefined) return made;
  }
  throw new TypeError(`Cannot use the lock: key file "${path}" kept changing; try again`);
}

/** Caches whose key file {@linkcode lengthenKeyFile} has looked at, in this process. */
const lengthened = new Set<string>();

/**
 * Puts the cache's key file, if it is of the old form (the key alone on its
 * line), in the long form, whether or not a start uses a lock: only
 * {@linkcode lockKey} did, so a host that started plugins with no lock over
 * a cache an older plugbox left kept the key on a line T29 shows a Deno-layer
 * plugin (review 134). Once per cache in a process; a key file the lock
 * would refuse is left for it to refuse, when one is used.
 *
 * @example
 * ```ts
 * import { lengthenKeyFile } from "./lock_file.ts";
 * const cache = await Deno.makeTempDir();
 * lengthenKeyFile(cache); // no key file: nothing to do
 * await Deno.remove(cache);
 * ```
 */
export function lengthenKeyFile(cacheDir: string): void {
  if (lengthened.has(cacheDir)) return;
  lengthened.add(cacheDir);
  const path = keyPath(cacheDir);
  try {
    const found = readKey(path, hostUid(cacheDir));
    if (found?.bare) lengthenKeyLine(path, found.key);
  } catch {
    // Refused as the lock's key: the lock says why, if one is used.
  }
}

/**
 * The key in the file at `path`; undefined when there is none (or it was
 * replaced as it was read). Only a regular file of this user's that no other
 * user may read or change is taken (review 56: a link to another user's
 * file, or a file they could read, gave them the key that seals approvals),
 * opened for reading and writing (never blocks on a FIFO swapped in), and
 * read to a bound.
 */
function readKey(
  path: string,
  uid: number | undefined,
): { key: string; bare: boolean } | undefined {
  const refuse = (what: string) =>
    new TypeError(
      `Cannot use the lock: key file "${path}" ${what}; remove it (approvals sealed with it must ` +
        `then be made again), or give the lock its own "key"`,
    );
  let seen: Deno.FileInfo;
  try {
    seen = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw refuse(`cannot be looked at (${osReason(error)})`);
  }
  // A link leading nowhere could never be made a key either (review 55: lockKey called itself until
  // the stack ran out); a FIFO or a device held every read (review 56).
  if (seen.isSymlink) throw refuse("is a link");
  if (!seen.isFile) throw refuse("is not a regular file");
  if (uid !== undefined && seen.uid !== uid) throw refuse(`is another user's (uid ${seen.uid})`);
  if ((seen.mode! & 0o077) !== 0) throw refuse("may be read or changed by other users");
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw refuse(`cannot be opened (${osReason(error)})`);
  }
  let text: string;
  try {
    const opened = file.statSync();
    if (!opened.isFile || opened.ino !== seen.ino || opened.dev !== seen.dev) return undefined;
    const bytes = new Uint8Array(512);
    text = new TextDecoder().decode(bytes.subarray(0, file.readSync(bytes) ?? 0));
  } finally {
    file.close();
  }
  const line = text.trim();
  if (/^[0-9a-f]{64}$/.test(line)) return { key: line, bare: true };
  if (/^[0-9a-f]{64}/.test(line) && line === line.slice(0, 64) + KEY_NOTE) {
    return { key: line.slice(0, 64), bare: false };
  }
  throw refuse("is not 64 hex digits");
}

/**
 * What follows the key on its line, so that the line is longer than the
 * 150 bytes Deno 2.9.6 ever quotes as a source line (review 133: under the
 * Deno layer a plugin granted nothing read the line a source map named, this
 * key's included, and a plugin granted write over a lock could then seal an
 * entry approving anything: THREATS T29).
 */
const KEY_NOTE = " is plugbox's sealing key; this note keeps its line over 150 bytes, " +
  "which Deno never shows a plugin as a source line";

/** The key file's text: the key and its note, on one line over 150 bytes. */
function keyLine(key: string): string {
  return `${key}${KEY_NOTE}\n`;
}

/**
 * Rewrites a key file of the old form (the key alone, a line Deno quotes
 * whole) with the same key on a line too long to quote: under a name of its
 * own, then renamed over it, so no reader sees it half written. Best effort:
 * a cache it cannot write keeps the old form.
 */
function lengthenKeyLine(path: string, key: string): void {
  const temp = `${path}.long-${crypto.randomUUID()}`;
  try {
    Deno.writeTextFileSync(temp, keyLine(key), { mode: 0o600, createNew: true });
    Deno.renameSync(temp, path);
  } catch {
    try {
      Deno.removeSync(temp);
    } catch {
      // never made
    }
  }
}

/**
 * Puts a new random key at `path`, written whole under a name of its own,
 * then linked in (a link never replaces a file): made in place, another
 * host read it empty between its making and its writing, and a host killed
 * there left it empty for good (review 54). The key; undefined when
 * another host's key was there first.
 */
function linkNewKey(path: string): string | undefined {
  const key = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const temp = `${path}.new-${crypto.randomUUID()}`;
  const cannot = (why: string) =>
    new TypeError(
      `Cannot use the lock: no key file could be made at "${path}" (${why}): give the lock its ` +
        `own "key", or use another cacheDir`,
    );
  try {
    try {
      Deno.writeTextFileSync(temp, keyLine(key), { mode: 0o600, createNew: true });
    } catch (error) {
      throw cannot(osReason(error));
    }
    try {
      Deno.linkSync(temp, path);
      return key;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return undefined;
      throw cannot(`${osReason(error)}; its file system must allow hard links`);
    }
  } finally {
    try {
      Deno.removeSync(temp);
    } catch {
      // never made
    }
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
    // Sealed when recorded; an entry from before it was keeps its seal (and approves any layer).
    ...(entry.isolation === undefined ? [] : [entry.isolation]),
  ]);
  return createHmac("sha256", key).update(canonical).digest("hex");
}

/** True when the entry's seal was made with `key` over exactly these fields. */
export function sealHolds(key: string, plugin: string, entry: LockEntry): boolean {
  const expected = Buffer.from(sealOf(key, plugin, entry), "hex");
  const actual = Buffer.from(entry.seal, "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
