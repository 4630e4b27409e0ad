/**
 * A claim: an OS lock (`flock`) on a file that exists only while its holder
 * holds it, so processes take turns at something they change (a lock file,
 * a place in the cache), the kernel drops a claim when its process dies,
 * and a process that may only read the folder has nothing to hold first.
 * @module
 */

import { neutralize } from "../wire/mod.ts";

/** A held claim; {@linkcode Claim.release} ends it. */
export interface Claim {
  /** Removes the claim's file, then lets go of it. */
  release(): void;
}

/**
 * One try at the claim at `claim`: held, or undefined when another process
 * holds it (or it moved meanwhile). The file is locked before it is put in
 * place: made under a name of its own, locked, then linked at `claim` (a
 * link fails where a file is); a holder removes it before it lets go. So a
 * process that may only read the folder cannot lock a claim first and keep
 * every other waiting (review 47: a claim's file kept for good let a plugin
 * do that; review 55: the cache's own), except one a process killed while
 * it held it left behind (review 56: left open). Such a file is claimed by
 * locking it. Only a regular file is opened (a link there would have the
 * host make or lock a file elsewhere), and a claim is held only while the
 * file at that name is still the one locked. `fail` makes the error for what
 * the caller cannot go on from (a link or folder at that name, a folder that
 * does not exist, a file system without `flock` or hard links).
 *
 * @example
 * ```ts ignore
 * const held = tryClaim(join(dir, ".publish.claim"), (detail) => new TypeError(detail));
 * if (held) {
 *   try { change(); } finally { held.release(); }
 * }
 * ```
 */
export function tryClaim(claim: string, fail: (detail: string) => Error): Claim | undefined {
  const file = openExisting(claim, fail) ?? makeLocked(claim, fail);
  if (!file) return undefined;
  try {
    // Locked, but still the file at that name? A holder that ended removed it meanwhile.
    if (file.tryLockSync(true) && sameFile(file, claim)) {
      return {
        release() {
          try {
            // Before letting go: a waiter on it then finds it gone. Only while it is still this
            // claim's file: one removed by hand may have been replaced by another holder's.
            if (sameFile(file, claim)) Deno.removeSync(claim);
          } catch {
            // removed by hand meanwhile
          }
          file.close();
        },
      };
    }
  } catch (error) {
    file.close();
    throw fail(`claim "${claim}": ${osReason(error)}`);
  }
  file.close();
  return undefined;
}

/** How {@linkcode waitForClaim} waits, and what it throws. */
export interface WaitForClaimOptions {
  /** How long another process's claim is waited for, in ms. */
  waitMs: number;
  /** The error for what cannot be gone on from ({@linkcode tryClaim}). */
  fail: (detail: string) => Error;
  /** The error once `waitMs` has passed with the claim still another's. */
  busy: () => Error;
  /** Aborting stops the wait: it rejects with the abort's reason, holding nothing. */
  signal?: AbortSignal;
}

/**
 * Holds the claim at `claim`, trying again every 10 to 30 ms (at random, so
 * waiters do not retry in step) while another process holds it, within
 * `waitMs`.
 *
 * @example
 * ```ts ignore
 * const held = await waitForClaim(join(dir, ".publish.claim"), {
 *   waitMs: 10_000,
 *   fail: (detail) => new Error(detail),
 *   busy: () => new Error("another process holds it"),
 * });
 * try { change(); } finally { held.release(); }
 * ```
 */
export async function waitForClaim(claim: string, options: WaitForClaimOptions): Promise<Claim> {
  const deadline = Date.now() + options.waitMs;
  const { signal } = options;
  for (;;) {
    signal?.throwIfAborted();
    const held = tryClaim(claim, options.fail);
    if (held) return held;
    if (Date.now() > deadline) throw options.busy();
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", wake);
        resolve();
      }, 10 + Math.random() * 20);
      signal?.addEventListener("abort", wake, { once: true });
    });
  }
}

/**
 * The claim's file at that name, opened to be locked, or undefined when
 * there is none (or another user's, or it changed between the look and the
 * open). Only a regular file is opened, and for reading and writing: that
 * never blocks on a FIFO swapped in meanwhile (review 47), and NFS locks
 * only files opened so.
 */
function openExisting(claim: string, fail: (detail: string) => Error): Deno.FsFile | undefined {
  let seen: Deno.FileInfo;
  let file: Deno.FsFile;
  try {
    seen = Deno.lstatSync(claim);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw fail(`claim "${claim}": ${osReason(error)}`);
  }
  if (!seen.isFile) throw fail(`"${claim}" beside it is not a regular file; remove it`);
  try {
    file = Deno.openSync(claim, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof Deno.errors.PermissionDenied) return undefined; // another user's: wait
    throw fail(`claim "${claim}": ${osReason(error)}`);
  }
  try {
    const opened = file.statSync();
    if (opened.isFile && opened.ino === seen.ino && opened.dev === seen.dev) return file;
  } catch {
    // below
  }
  file.close(); // replaced between the look and the open: look again
  return undefined;
}

/** A new claim's file, locked, then linked in; undefined when a claim was put there first. */
function makeLocked(claim: string, fail: (detail: string) => Error): Deno.FsFile | undefined {
  const own = `${claim}.${crypto.randomUUID()}`;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(own, { read: true, write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw fail("its folder does not exist");
    throw fail(osReason(error));
  }
  try {
    let locked: boolean;
    try {
      locked = file.tryLockSync(true);
    } catch (error) {
      throw fail(`${osReason(error)} (its file system must allow locks: flock)`);
    }
    if (!locked) return closed(file); // another opened it first: a new name
    try {
      Deno.linkSync(own, claim);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return closed(file);
      throw fail(`${osReason(error)} (its file system must allow hard links)`);
    }
    return file;
  } catch (error) {
    file.close();
    throw error;
  } finally {
    try {
      Deno.removeSync(own);
    } catch {
      // gone already
    }
  }
}

function closed(file: Deno.FsFile): undefined {
  file.close();
  return undefined;
}

/** Whether the file at `name` is still `file` (not removed, not replaced). */
function sameFile(file: Deno.FsFile, name: string): boolean {
  try {
    const there = Deno.lstatSync(name);
    const mine = file.statSync();
    return there.isFile && there.ino === mine.ino && there.dev === mine.dev;
  } catch {
    return false;
  }
}

/**
 * The OS's words for a failed file operation, without Deno's "(os error
 * N)" and path.
 *
 * @example
 * ```ts ignore
 * osReason(new Error("Permission denied (os error 13): open '/x'")); // "Permission denied"
 * ```
 */
export function osReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return neutralize(text.replace(/ \(os error \d+\).*$/s, ""), 200);
}
