/**
 * The SDK's code cache, shared by every plugin and written by none: plugbox
 * loads the SDK (plugin.js, zod.js, the preload) once per SDK folder and
 * Deno version, in a Deno process of its own that runs no plugin code, and
 * keeps the caches Deno wrote (V8's code cache, the module analysis caches)
 * read-only in `<cache>/sdk-seed/`. That folder is the Deno dir of every
 * plugin without a `run`, `ffi` or `all` grant, mounted read-only under the
 * OS layers and bound by its modes under the Deno layer (the plugin runs
 * without the capabilities that override them): Deno reads the SDK's
 * compiled code from it and writes nothing, so no plugin can grow it (a
 * plugin importing `data:` modules wrote its caches at about 40 MB/s) or
 * reach another plugin through it. A plugin with such a grant gets a
 * writable copy of its own.
 * @module
 */

import { join } from "node:path";
import { createHash } from "node:crypto";
import { runCaptured } from "./exec.ts";
import type { SdkFiles } from "./sdk.ts";

/** The Deno caches a seed holds: each a SQLite database in write-ahead-log mode. */
export const SEEDED_CACHES: readonly string[] = [
  "v8_code_cache_v2",
  "dep_analysis_cache_v2",
  "node_analysis_cache_v2",
];

/**
 * Each cache's files as the seed run left them: the database, its log and
 * the log's index. SQLite opens a log-mode database it may not write only
 * when both are there; a database folded into one file is opened by Deno
 * with a journal mode it cannot set, so Deno drops the cache (measured:
 * zod compiled again at every start).
 */
const SEED_FILES: readonly string[] = SEEDED_CACHES.flatMap((name) => [
  name,
  `${name}-wal`,
  `${name}-shm`,
]);

/** Bumped when a seed's layout changes, so an older plugbox's seed is never taken for one. */
const SEED_FORMAT = "read-only-wal";

/** What the seed run loads: the SDK and zod, as a plugin's first import does. */
const SEED_SCRIPT =
  `import "@plugbox/plugbox/plugin";\nimport "zod";\nvoid Deno.stdin.readable;\nstructuredClone({});\n`;

const seeds = new Map<string, Promise<string | undefined>>();

/**
 * The seed folder for `sdk` and `deno`, built on first use (once per host
 * process; concurrent hosts build private folders and the first rename
 * wins). Undefined when it cannot be built: plugins then start without it.
 * Deno runs through `sh` where there is one, as a plugin's does: a host's
 * `--allow-run` names `deno`, not its real path (review 38: under the
 * README's flags no seed was ever built).
 */
export function sdkSeed(
  sdk: SdkFiles,
  deno: { path: string; version: string },
  cacheDir: string,
  sh?: string,
): Promise<string | undefined> {
  const key = createHash("sha256")
    .update(`${SEED_FORMAT}\0${sdk.dir}\0${deno.path}\0${deno.version}`)
    .digest("hex").slice(0, 24);
  let found = seeds.get(key);
  if (!found) {
    found = buildSeed(sdk, deno.path, join(cacheDir, "sdk-seed", key), sh).catch(() => undefined);
    seeds.set(key, found);
  }
  return found;
}

async function complete(dir: string): Promise<boolean> {
  for (const name of SEED_FILES) {
    const info = await Deno.lstat(join(dir, name)).catch(() => undefined);
    if (!info?.isFile) return false;
  }
  return true;
}

async function buildSeed(
  sdk: SdkFiles,
  deno: string,
  dir: string,
  sh: string | undefined,
): Promise<string | undefined> {
  if (await complete(dir)) return dir;
  const parent = join(dir, "..");
  await Deno.mkdir(parent, { recursive: true });
  const temp = await Deno.makeTempDir({ dir: parent, prefix: ".build-" });
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
    const seedRun = () =>
      runCaptured(program, [...before, ...denoArgs], {
        timeoutMs: 60_000,
        env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      });
    if (!(await seedRun()).success) return undefined;
    // Twice: Deno's caches as one run leaves them (each database empty, its tables in its log)
    // were never read by a Deno that may not write them (it failed to make the tables and
    // dropped the cache, measured); as a second run leaves them, they are.
    if (!(await seedRun()).success) return undefined;
    const seed = join(temp, "seed");
    await Deno.mkdir(seed);
    // A file missing (a Deno that folds its logs in at exit) fails the seed: a plugin would
    // otherwise run with a cache Deno cannot open, cold at every start, unseen.
    for (const name of SEED_FILES) {
      await Deno.copyFile(join(denoDir, name), join(seed, name));
      await Deno.chmod(join(seed, name), 0o444);
    }
    await Deno.chmod(seed, 0o555);
    await Deno.rename(seed, dir).catch(async (error) => {
      if (!(await complete(dir))) throw error;
    });
    return dir;
  } finally {
    await Deno.chmod(join(temp, "seed"), 0o755).catch(() => {}); // left read-only by a failure
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
 * nothing. Made once per cache, outside the seeds' folder (which may be
 * what failed).
 *
 * @example
 * ```ts ignore
 * const denoDir = (await sdkSeed(sdk, deno, cacheDir)) ?? await emptyDenoDir(cacheDir);
 * ```
 */
export function emptyDenoDir(cacheDir: string): Promise<string> {
  let found = empties.get(cacheDir);
  if (!found) {
    found = makeEmpty(join(cacheDir, `deno-dir-empty-${SEED_FORMAT}`));
    empties.set(cacheDir, found);
    found.catch(() => empties.delete(cacheDir));
  }
  return found;
}

async function makeEmpty(dir: string): Promise<string> {
  const info = await Deno.lstat(dir).catch(() => undefined);
  if (info?.isDirectory && (info.mode! & 0o222) === 0) return dir;
  if (info) throw new Error(`"${dir}" is not the empty read-only folder plugbox made`);
  await Deno.mkdir(dir, { recursive: true, mode: 0o555 });
  await Deno.chmod(dir, 0o555); // the umask may have left more
  return dir;
}
