/**
 * Puts a folder that several host processes may build at once (the SDK, the
 * launcher's scripts, the SDK's seed) in its place in the cache: each builds
 * a private copy beside it and renames it in, and the first rename wins.
 * @module
 */

import { dirname, join } from "node:path";

/** How {@linkcode publishFolder} builds, judges and throws away a folder. */
export interface PublishOptions {
  /** Whether the folder at a path is whole and as it should be (one not there is not). */
  good(dir: string): Promise<boolean>;
  /** Builds a complete folder beside the place, in a name of its own, and returns it. */
  build(): Promise<string>;
  /** Removes a folder `build` made that was not published. */
  discard(folder: string): Promise<void>;
  /** The name's start for a bad folder moved aside, beside it (`.set-aside-`). */
  asidePrefix: string;
}

/** How many times a host builds or sets aside before it gives up: each round needs another host to act between its steps. */
const ROUNDS = 4;

/**
 * Makes `dir` a good folder: keeps one already there (this host's or
 * another's), or builds one and renames it in, moving a bad one aside first.
 * A folder is judged bad only after it was seen there (a check that finds
 * none, then a look that finds another host's, finished meanwhile, judges it
 * again), and only the folder judged is moved aside (one swapped in meanwhile
 * is put back): hosts starting at once moved each other's new folders aside
 * and lost their renames to the folders they had just seen missing (CI:
 * "Directory not empty" from four `plug approve` at once). Throws what the
 * last rename threw when `dir` is still not good after a few rounds.
 *
 * @example
 * ```ts ignore
 * await publishFolder(join(cacheDir, "sdk", key), {
 *   good: (dir) => matches(dir, files),
 *   build: () => writeFiles(join(cacheDir, "sdk"), files),
 *   discard: (folder) => Deno.remove(folder, { recursive: true }),
 *   asidePrefix: `${key}.damaged-`,
 * });
 * ```
 */
export async function publishFolder(dir: string, how: PublishOptions): Promise<void> {
  let built: string | undefined;
  let failure: unknown;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (await how.good(dir)) return;
      const seen = await Deno.lstat(dir).catch(() => undefined);
      if (seen) {
        if (await how.good(dir)) return; // another host's, finished between the check and the look
        await setAsideIfSame(dir, seen, how.asidePrefix);
      }
      built ??= await how.build();
      try {
        await Deno.rename(built, dir);
        built = undefined;
        return;
      } catch (error) {
        failure = error; // another host's folder is there now: judged again in the next round
      }
    }
    if (await how.good(dir)) return;
    throw failure;
  } finally {
    if (built !== undefined) await how.discard(built).catch(() => {});
  }
}

/**
 * Moves `dir` aside if it is still the folder `seen` was: one another host
 * renamed in after the look is put back (or, if yet another took the place,
 * left aside, where the sweep of leftovers finds it).
 */
async function setAsideIfSame(dir: string, seen: Deno.FileInfo, prefix: string): Promise<void> {
  const aside = join(dirname(dir), `${prefix}${crypto.randomUUID()}`);
  const moved = await Deno.rename(dir, aside).then(() => true, () => false);
  if (!moved) return; // gone already: another host moved it
  const info = await Deno.lstat(aside).catch(() => undefined);
  if (info && (info.ino !== seen.ino || info.dev !== seen.dev)) {
    await Deno.rename(aside, dir).catch(() => {});
  }
}

/**
 * A new folder in `parent` (named `.build-…`) holding `files`, each
 * read-only: a build for {@linkcode publishFolder}.
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
