/**
 * Seals replaced by a later approval: a sealed entry stays sealed, so one
 * put back in the lock (a merge, a checkout of an older lock, a program
 * that may write its folder) approved again what a later approval took
 * back (review 89). Each approval that replaces an entry adds the replaced
 * seal to `lock.revoked` in plugbox's cache, beside the sealing key, and a
 * locked start refuses an entry whose seal is listed there.
 * @module
 */

import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { osReason } from "./claim_file.ts";

/** Largest list read: 64 bytes and a newline per replaced approval, some 250,000 of them. */
const MAX_REVOKED_BYTES = 16 * 1024 * 1024;

/** The file of replaced seals in the cache. */
export function revokedPath(cacheDir: string): string {
  return join(cacheDir, "lock.revoked");
}

function cannot(path: string, why: string): TypeError {
  return new TypeError(
    `Cannot use the lock: the list of replaced approvals "${path}" ${why}; remove it (approvals ` +
      `replaced since could then be put back), or use another cacheDir`,
  );
}

/** Opens the list, never through a link, never blocking; undefined when there is none. */
function openList(path: string, flags: number): number | undefined {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw cannot(path, "is a link");
    throw cannot(path, `cannot be opened (${osReason(error)})`);
  }
}

/** Records that the entry sealed `seal` was replaced: it approves nothing from now on. */
export function revokeSeal(cacheDir: string, seal: string): void {
  const path = revokedPath(cacheDir);
  const fd = openList(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT)!;
  try {
    if (!fstatSync(fd).isFile()) throw cannot(path, "is not a regular file");
    // One write of 65 bytes in append mode: lines from hosts appending at once never interleave.
    writeSync(fd, `${seal}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Whether the entry sealed `seal` was replaced by a later approval. */
export function sealRevoked(cacheDir: string, seal: string): boolean {
  const path = revokedPath(cacheDir);
  const fd = openList(path, constants.O_RDONLY);
  if (fd === undefined) return false;
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.size > MAX_REVOKED_BYTES) {
      throw cannot(path, `must be a regular file of at most ${MAX_REVOKED_BYTES} bytes`);
    }
    const bytes = new Uint8Array(info.size);
    let at = 0;
    while (at < bytes.length) {
      const read = readSync(fd, bytes, at, bytes.length - at, null);
      if (read === 0) break;
      at += read;
    }
    return new TextDecoder().decode(bytes.subarray(0, at)).split("\n").includes(seal);
  } finally {
    closeSync(fd);
  }
}
