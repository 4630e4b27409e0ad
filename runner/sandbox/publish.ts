/**
 * Puts a folder that several host processes may build at once (the SDK, the
 * launcher's scripts, the SDK's seed) in its place in the cache: each builds
 * a private copy beside it and renames it in, one host at a time, and the
 * first one in wins.
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { waitForClaim } from "./claim_file.ts";

/** How {@linkcode publishFolder} builds, judges and throws away a folder. */
export interface PublishOptions {
  /** Whether the folder at a path is whole and as it should be (one not there is not). */
  good(dir: string): Promise<boolean>;
  /**
   * Builds a complete folder beside the place, in a name of its own (its
   * parent made if need be), and returns it.
   */
  build(): Promise<string>;
  /** Removes a folder `build` made that was not published. */
  discard(folder: string): Promise<void>;
  /** The name's start for a bad folder moved aside, beside it (`.set-aside-`). */
  asidePrefix: string;
  /**
   * How long to wait for another host's turn at the place (a turn is two
   * renames, so only a stuck host holds it this long).
   * @default {10_000}
   */
  turnWaitMs?: number;
}

/**
 * Makes `dir` a good folder: keeps one already there (this host's or
 * another's), or builds one and renames it in, moving a bad one aside
 * first. Checks need no lock; every change of the place (a bad folder moved
 * aside, a build renamed in) happens holding the claim
 * `.publish.claim` beside it, after the place is judged again there. So a
 * folder another host just renamed in is never taken for missing or bad:
 * hosts starting at once judged each other's new folders damaged, moved them
 * aside and lost their own renames (CI: "Directory not empty" from four
 * `plug approve` at once), and a folder moved aside to be looked at left the
 * place empty under hosts already using it (review 54). A folder judged good
 * is never moved, only a bad one. Whether this host's build was put in
 * place (not when a good folder was there); throws what `build` or a
 * rename threw.
 *
 * @example
 * ```ts ignore
 * await publishFolder(join(cacheDir, "sdk-seed", key), {
 *   good: (dir) => sealed(dir),
 *   build: () => makeSeed(join(cacheDir, "sdk-seed")),
 *   discard: (folder) => Deno.remove(folder, { recursive: true }),
 *   asidePrefix: ".set-aside-",
 * });
 * ```
 */
export async function publishFolder(dir: string, how: PublishOptions): Promise<boolean> {
  if (await how.good(dir)) return false;
  const built = await how.build(); // outside the turn: a seed's build is a Deno run
  let published = false;
  try {
    const claim = join(dirname(dir), ".publish.claim");
    await inTurn(claim, dir, how.turnWaitMs ?? 10_000, async () => {
      if (await how.good(dir)) return; // another host's, renamed in meanwhile
      if (await Deno.lstat(dir).then(() => true, () => false)) {
        await Deno.rename(dir, join(dirname(dir), `${how.asidePrefix}${crypto.randomUUID()}`));
      }
      await Deno.rename(built, dir);
      published = true;
    });
    return published;
  } finally {
    if (await Deno.lstat(built).then(() => true, () => false)) {
      await how.discard(built).catch(() => {});
    }
  }
}

/**
 * Runs `step` holding the claim at `claimPath` (a file that exists only
 * while a host holds it, {@linkcode waitForClaim}: a lock file kept for
 * good could be locked by a plugin that may read the cache, and every
 * host's next update waited on it; a link planted there had a root host
 * make a file where it led: review 55), waited for within `waitMs`.
 */
async function inTurn(
  claimPath: string,
  dir: string,
  waitMs: number,
  step: () => Promise<void>,
): Promise<void> {
  const fail = (detail: string) => new Error(`Cannot put "${dir}" in place: ${detail}`);
  const held = await waitForClaim(claimPath, {
    waitMs,
    fail,
    busy: () =>
      fail(
        `another process has held "${claimPath}" for over ${waitMs / 1000} s (a plugbox host ` +
          `stuck while it changes the cache there, or a process holding a file a killed host ` +
          `left: end it, or remove the file if no host runs)`,
      ),
  });
  try {
    await step();
  } finally {
    held.release();
  }
}

/**
 * Puts `files` (name to text) read-only in `<parent>/<key>`, where the key
 * is a hash of every name and text (so changed files never reuse an old
 * folder), and returns that folder. A folder there that differs (damaged by
 * hand) is moved aside as `<key>.damaged-…`, never trusted.
 *
 * @example
 * ```ts ignore
 * const dir = await publishFiles(join(cacheDir, "launcher"), { "relay.js": text });
 * ```
 */
export async function publishFiles(
  parent: string,
  files: Record<string, string>,
): Promise<string> {
  const hash = createHash("sha256");
  for (const [name, text] of Object.entries(files)) hash.update(`${name}\0${text}\0`);
  const key = hash.digest("hex").slice(0, 24);
  const dir = join(parent, key);
  await publishFolder(dir, {
    good: async (found) => {
      for (const [name, text] of Object.entries(files)) {
        if (await Deno.readTextFile(join(found, name)).catch(() => undefined) !== text) {
          return false;
        }
      }
      return true;
    },
    build: () => writeReadOnly(parent, files),
    discard: (folder) => Deno.remove(folder, { recursive: true }),
    asidePrefix: `${key}.damaged-`,
  });
  return dir;
}

/**
 * A new folder in `parent` (named `.build-…`, the parent made if need be)
 * holding `files`, each read-only: a build for {@linkcode publishFolder}.
 *
 * @example
 * ```ts ignore
 * const folder = await writeReadOnly(join(cacheDir, "launcher"), { "relay.js": text });
 * ```
 */
export async function writeReadOnly(
  parent: string,
  files: Record<string, string>,
): Promise<string> {
  await Deno.mkdir(parent, { recursive: true });
  const folder = await Deno.makeTempDir({ dir: parent, prefix: ".build-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(folder, name), text);
      await Deno.chmod(join(folder, name), 0o444);
    }
    return folder;
  } catch (error) {
    await Deno.remove(folder, { recursive: true }).catch(() => {});
    throw error;
  }
}
