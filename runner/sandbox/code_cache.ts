/**
 * The SDK's code cache, shared by every plugin and written by none: plugbox
 * loads the SDK (plugin.js, zod.js, the preload) once per SDK folder and
 * Deno version, in a Deno process of its own that runs no plugin code, and
 * keeps the caches Deno wrote (V8's code cache, the module analysis caches)
 * read-only in `<cache>/sdk-seed/`. That folder is the Deno dir of every
 * plugin without a `run`, `ffi` or `all` grant, mounted read-only under the
 * OS layers and bound by its modes under the Deno layer (the plugin runs
 * without the capabilities that override them; a root host gives the seed
 * to a user no plugin runs as, and every start checks it sealed): Deno reads the SDK's
 * compiled code from it and writes nothing, so no plugin can grow it (a
 * plugin importing `data:` modules wrote its caches at about 40 MB/s) or
 * reach another plugin through it. A plugin with such a grant gets a
 * writable copy of its own.
 * @module
 */

import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { SharedWork } from "./abort.ts";
import { runCaptured } from "./exec.ts";
import { hostUid } from "./grant_rules.ts";
import { publishFolder } from "./publish.ts";
import type { SdkFiles } from "./sdk.ts";

/** The Deno caches a seed holds: each a SQLite database in write-ahead-log mode. */
export const SEEDED_CACHES: readonly string[] = [
  "v8_code_cache_v2",
  "dep_analysis_cache_v2",
  "node_analysis_cache_v2",
];

/**
 * Each cache's files: the database, its log and the log's index. SQLite
 * opens a log-mode database it may not write only with its log beside it;
 * a database folded into one file is opened by Deno with a journal mode it
 * cannot set, so Deno drops the cache (measured: zod compiled again at
 * every start).
 */
function filesOf(cache: string): string[] {
  return [cache, `${cache}-wal`, `${cache}-shm`];
}
const SEED_FILES: readonly string[] = SEEDED_CACHES.flatMap(filesOf);

/** Bumped when a seed's layout changes, so an older plugbox's seed is never taken for one. */
const SEED_FORMAT = "read-only-wal-analysed";

/**
 * Who owns a seed a root host made: a user no plugin runs as. A plugin runs
 * as the host's user (without capabilities, for a root host), and the owner
 * of a file may change its modes without any: a `run` grant's program under
 * the Landlock layer, which controls no `chmod`, made the seed writable to
 * every plugin after it (review 51).
 */
const SEED_OWNER = 65534;

/** What the seed run loads: the SDK and zod, as a plugin's first import does. */
const SEED_SCRIPT =
  `import "@plugbox/plugbox/plugin";\nimport "zod";\nvoid Deno.stdin.readable;\nstructuredClone({});\n`;

/** Each seed's build (or its outcome), by key: one for every start of this process. */
const seeds = new Map<string, SharedWork<string | undefined>>();

/**
 * The seed folder for `sdk` and `deno`, built on first use (concurrent
 * hosts build private folders and the first rename wins) and checked
 * sealed at every call: one whose modes, owner, names or files changed is
 * moved aside and built again. Undefined when it cannot be built (tried again
 * at the next call): plugins then start without it. Deno runs through
 * `sh` where there is one, as a plugin's does: a host's `--allow-run`
 * names `deno`, not its real path (review 38: under the README's flags no
 * seed was ever built). At `signal`'s abort it rejects with the abort's
 * reason: at once while other starts wait for the build, else once the
 * build is killed and its folders removed (abort.ts `SharedWork`).
 */
export async function sdkSeed(
  sdk: SdkFiles,
  deno: { path: string; version: string },
  cacheDir: string,
  sh?: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const key = createHash("sha256")
    .update(`${SEED_FORMAT}\0${sdk.dir}\0${deno.path}\0${deno.version}`)
    .digest("hex").slice(0, 24);
  const dir = join(cacheDir, "sdk-seed", key);
  const uid = hostUid(cacheDir);
  let found = seeds.get(key);
  if (found?.stopped) found = undefined; // no start waited for it: built again for this one
  if (found && (await found.join(signal)) === dir && !(await sealed(dir, SEED_FILES, uid))) {
    found = undefined;
  }
  if (!found) {
    const build = found = new SharedWork((stop) => {
      const made = (parent: string) => makeSeed(sdk, deno.path, parent, { sh, uid, stop });
      return putSealed(dir, SEED_FILES, { sh, uid, stop }, made).catch(async () =>
        // Another host may have finished it meanwhile.
        await sealed(dir, SEED_FILES, uid) ? dir : undefined
      );
    });
    seeds.set(key, build);
    // A failure is not kept: the next start tries again.
    build.done.then((built) =>
      built === undefined && seeds.get(key) === build && seeds.delete(key)
    );
  }
  return await found.join(signal);
}

/**
 * Settles once every seed build under way in this process has ended
 * (built, failed, or stopped as no start waited for it): from then on no
 * seed build writes the cache. For tests, which must know when a build that
 * was not stopped would have written its last.
 *
 * @example
 * ```ts ignore
 * await host[Symbol.asyncDispose]();
 * await seedBuildsEnded(); // what still writes the cache now is no seed build
 * ```
 */
export async function seedBuildsEnded(): Promise<void> {
  await Promise.allSettled([...seeds.values()].map((build) => build.done));
}

/**
 * Whether `dir` is a seed as plugbox sealed it: exactly `names`, regular
 * files, nothing writable by anyone, owned by {@linkcode SEED_OWNER} or by
 * this process's user, and, while it is the same folder, each file as this
 * process first saw it sealed.
 */
async function sealed(
  dir: string,
  names: readonly string[],
  uid: number | undefined,
): Promise<boolean> {
  const owners = [SEED_OWNER, uid];
  const info = await Deno.lstat(dir).catch(() => undefined);
  if (!info?.isDirectory || (info.mode! & 0o222) !== 0 || !owners.includes(info.uid!)) {
    return false;
  }
  try {
    const found = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    if (found.join("\0") !== [...names].sort().join("\0")) return false;
    const print = [`${info.dev}:${info.ino}`];
    for (const name of names) {
      const file = await Deno.lstat(join(dir, name));
      if (!file.isFile || (file.mode! & 0o222) !== 0 || !owners.includes(file.uid!)) return false;
      print.push(`${name}:${file.ino}:${file.size}:${file.mtime?.getTime()}`);
    }
    // A file written in place (made writable a moment, then sealed again: review 52) keeps the
    // names and modes but not its size or time. A folder built again anew is another folder.
    const known = prints.get(dir);
    if (known?.[0] === print[0] && known.join("\0") !== print.join("\0")) return false;
    prints.set(dir, print);
    return true;
  } catch {
    return false;
  }
}

/** Each sealed folder as this process first found it: its identity, then each file's. */
const prints = new Map<string, string[]>();

/**
 * Seals `folder` (made by this process) read-only, owned by
 * {@linkcode SEED_OWNER} where this process may give it away (as root).
 */
async function seal(
  folder: string,
  names: readonly string[],
  uid: number | undefined,
): Promise<void> {
  for (const path of [...names.map((name) => join(folder, name)), folder]) {
    await Deno.chmod(path, path === folder ? 0o555 : 0o444);
    if (uid === 0) {
      await Deno.chown(path, SEED_OWNER, SEED_OWNER).catch(() => {});
    }
  }
}

/** How a build runs: `sh` for its helpers, the host's uid, the stop of one no start waits for. */
interface BuildOptions {
  sh: string | undefined;
  uid: number | undefined;
  stop?: AbortSignal;
}

/** How old a build's leftover must be to be no build's under way: a build's runs end within 60 s. */
const LEFTOVER_MS = 10 * 60_000;

/**
 * Removes what builds left in the seeds' folder: seeds set aside, and the
 * temporary folders of a host killed mid-build (review 52: none was ever
 * removed). Only those names, older than {@linkcode LEFTOVER_MS}, with
 * `rm -rf --one-file-system` through `sh` (which follows no link, to any
 * depth), after `chmod -R u+w` on a host not root (whose own sealed folders
 * bind it), within a deadline. Without `sh` they stay.
 */
async function sweepLeftovers(
  parent: string,
  { sh, uid, stop }: BuildOptions,
): Promise<void> {
  if (!sh) return;
  const old: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (!entry.isDirectory || !/^\.(?:set-aside|build|seed|empty)-/.test(entry.name)) continue;
    const info = await Deno.lstat(join(parent, entry.name)).catch(() => undefined);
    if (Date.now() - (info?.mtime?.getTime() ?? Date.now()) > LEFTOVER_MS) {
      old.push(join(parent, entry.name));
    }
  }
  if (old.length === 0) return;
  // chmod follows a name given to it that was swapped for a link meanwhile (review 53): only a
  // host that modes bind (not root) needs it, and only its own user could swap one in.
  const writable = uid === 0 ? "" : 'chmod -R u+w -- "$@" 2>/dev/null; ';
  await runCaptured(
    sh,
    ["-c", `${writable}exec rm -rf --one-file-system -- "$@"`, "sh", ...old],
    { timeoutMs: 5_000, signal: stop },
  ).catch(() => {});
}

/** Removes a folder this process made and may have sealed. */
async function discard(folder: string): Promise<void> {
  await Deno.chmod(folder, 0o755).catch(() => {});
  await Deno.remove(folder, { recursive: true }).catch(() => {});
}

/**
 * Puts a folder sealed with exactly `names` at `dir` and returns it: one
 * sealed there is kept (another host's too); else old leftovers beside it
 * are removed, `make` builds one beside it (a rename within one folder
 * needs no write permission on the folder moved: a host not root could not
 * move its read-only seed into another folder, review 51), and it is
 * published, one not sealed (half-built by a host that died, or changed
 * since) moved aside.
 */
async function putSealed(
  dir: string,
  names: readonly string[],
  { sh, uid, stop }: BuildOptions,
  make: (parent: string) => Promise<string>,
): Promise<string> {
  const parent = dirname(dir);
  const published = await publishFolder(dir, {
    good: (found) => sealed(found, names, uid),
    build: async () => {
      await Deno.mkdir(parent, { recursive: true });
      await sweepLeftovers(parent, { sh, uid, stop });
      return await make(parent);
    },
    discard,
    asidePrefix: ".set-aside-",
  });
  // Seen sealed now, as built: a later change in place is then told from it.
  if (published && !(await sealed(dir, names, uid))) {
    throw new Error(`"${dir}" changed as it was made`);
  }
  return dir;
}

/** A sealed seed in `parent`, named `.seed-…`, from one Deno run that loads the SDK. */
async function makeSeed(
  sdk: SdkFiles,
  deno: string,
  parent: string,
  { sh, uid, stop }: BuildOptions,
): Promise<string> {
  const temp = await Deno.makeTempDir({ dir: parent, prefix: ".build-" });
  const seed = join(parent, `.seed-${crypto.randomUUID()}`);
  try {
    const script = join(temp, "seed.js");
    await Deno.writeTextFile(script, SEED_SCRIPT);
    const denoDir = join(temp, "deno_dir");
    const denoArgs = [
      "run",
      ...["--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt"],
      `--import-map=${sdk.importMap}`,
      `--preload=${sdk.preload}`,
      // V8's cache is keyed by its flags too: the default memory limit's (another one misses).
      "--v8-flags=--max-old-space-size=512",
      script,
    ];
    const [program, ...before] = sh ? [sh, "-c", 'exec "$@"', "plugbox", deno] : [deno];
    const run = await runCaptured(program, [...before, ...denoArgs], {
      timeoutMs: 60_000,
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      signal: stop, // killed when no start waits for it: its folders are removed below
    });
    if (!run.success) throw new Error(`the seed's Deno run failed: ${run.stderr.slice(0, 200)}`);
    await Deno.mkdir(seed);
    const { DatabaseSync } = await import("node:sqlite");
    for (const name of SEEDED_CACHES) {
      // Deno's tables folded into the database and analysed (which writes a fresh log), copied
      // with the log and its index while this connection holds them open. As Deno's run leaves
      // them (tables only in the log, or no log at all: it depends on when Deno exits), a Deno
      // that may not write them did not read them (measured: 4 builds of 5 on tmpfs; review 51);
      // unanalysed, Deno's `PRAGMA optimize` at open tries to write, and it drops the cache.
      const db = new DatabaseSync(join(denoDir, name));
      try {
        db.exec("PRAGMA journal_mode=WAL; PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;");
        for (const file of filesOf(name)) {
          await Deno.copyFile(join(denoDir, file), join(seed, file));
        }
      } finally {
        db.close();
      }
    }
    await seal(seed, SEED_FILES, uid);
    return seed;
  } catch (error) {
    await discard(seed);
    throw error;
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

/**
 * Copies the seed's caches into a Deno dir made for one start (a `run`,
 * `ffi` or `all` grant's, which its programs may write freely, so it is
 * never the seed itself). The dir is new and this process's alone until the
 * plugin spawns, so the copies go straight in. A copy that fails costs a
 * cold start only. Whether every file was copied.
 *
 * @example
 * ```ts ignore
 * const seed = await sdkSeed(sdk, deno, cacheDir, "/bin/sh");
 * await seedOwnDenoDir(seed, ownDir); // before the plugin's first import
 * ```
 */
export async function seedOwnDenoDir(seed: string | undefined, denoDir: string): Promise<boolean> {
  if (!seed) return false;
  try {
    for (const name of SEED_FILES) {
      await Deno.copyFile(join(seed, name), join(denoDir, name));
      await Deno.chmod(join(denoDir, name), 0o644);
    }
    return true;
  } catch {
    for (const name of SEED_FILES) await Deno.remove(join(denoDir, name)).catch(() => {});
    return false;
  }
}

const empties = new Map<string, Promise<string>>();

/**
 * An empty read-only Deno dir, for the plugins of a host whose seed could
 * not be built: they compile the SDK at every start, and still write
 * nothing. Sealed as a seed is, checked at every call (one changed is
 * moved aside and made again), and outside the seeds' folder (which may be
 * what failed): in `<cache>/deno-dir-empty/`, whose leftovers a new one's
 * making removes as a seed's build does.
 *
 * @example
 * ```ts ignore
 * const denoDir = (await sdkSeed(sdk, deno, cacheDir, "/bin/sh")) ??
 *   await emptyDenoDir(cacheDir, "/bin/sh");
 * ```
 */
export async function emptyDenoDir(cacheDir: string, sh?: string): Promise<string> {
  const dir = join(cacheDir, "deno-dir-empty", SEED_FORMAT);
  const uid = hostUid(cacheDir);
  let found = empties.get(cacheDir);
  if (found && !(await sealed(dir, [], uid))) found = undefined;
  if (!found) {
    found = putSealed(dir, [], { sh, uid }, async (parent) => {
      const folder = join(parent, `.empty-${crypto.randomUUID()}`);
      await Deno.mkdir(folder);
      await seal(folder, [], uid);
      return folder;
    });
    empties.set(cacheDir, found);
    found.catch(() => empties.delete(cacheDir));
  }
  return found;
}
