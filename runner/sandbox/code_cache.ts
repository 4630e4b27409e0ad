/**
 * The SDK's code cache, shared by every plugin without being shared with
 * any: plugbox loads the SDK (plugin.js, zod.js, the preload) once per SDK
 * folder and Deno version, in a Deno process of its own that runs no plugin
 * code, and keeps the caches Deno wrote (V8's code cache, the module
 * analysis caches) read-only in `<cache>/sdk-seed/`. A plugin's Deno dir
 * receives a copy of them before its first start (a new plugin name), so
 * that start finds zod compiled; after that the copy is the plugin's own.
 * No plugin ever runs with the seed as its Deno dir and none is mounted or
 * granted it writable, so nothing a plugin does reaches another's cache.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { runCaptured } from "./exec.ts";
import type { SdkFiles } from "./sdk.ts";

/** The Deno caches a seed holds: each a SQLite file, checkpointed into one file. */
export const SEEDED_CACHES: readonly string[] = [
  "v8_code_cache_v2",
  "dep_analysis_cache_v2",
  "node_analysis_cache_v2",
];

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
  const key = createHash("sha256").update(`${sdk.dir}\0${deno.path}\0${deno.version}`).digest(
    "hex",
  ).slice(0, 24);
  let found = seeds.get(key);
  if (!found) {
    found = buildSeed(sdk, deno.path, join(cacheDir, "sdk-seed", key), sh).catch(() => undefined);
    seeds.set(key, found);
  }
  return found;
}

async function complete(dir: string): Promise<boolean> {
  for (const name of SEEDED_CACHES) {
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
    const run = await runCaptured(program, [...before, ...denoArgs], {
      timeoutMs: 60_000,
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    if (!run.success) return undefined;
    const { DatabaseSync } = await import("node:sqlite");
    const seed = join(temp, "seed");
    await Deno.mkdir(seed);
    for (const name of SEEDED_CACHES) {
      // One self-contained file each: the write-ahead log folded in.
      const db = new DatabaseSync(join(denoDir, name));
      db.exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
      db.close();
      await Deno.copyFile(join(denoDir, name), join(seed, name));
      await Deno.chmod(join(seed, name), 0o444);
    }
    await Deno.chmod(seed, 0o555);
    await Deno.rename(seed, dir).catch(async (error) => {
      if (!(await complete(dir))) throw error;
    });
    return dir;
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

/**
 * Copies the seed's caches into a plugin's own Deno dir unless that dir was
 * seeded from this very seed: its first start, and its first after plugbox's
 * SDK or Deno changed (the caches it has then hold no entry for the new SDK:
 * every plugin of a host upgraded would start cold once, compiling zod, and
 * hold about twice the memory for its life). The seed's files replace the
 * plugin's (its own modules compile again once), each through a temporary
 * name beside the Deno dir (no plugin writes there) and a rename into it,
 * so a start never sees half a file (copies a dead host left there are
 * removed first). Which seed a dir was given is the name of an empty file,
 * never its content: plugbox only checks that a name exists in a folder a
 * plugin may write, and never opens what is there. A copy that fails costs
 * a cold start only. Seedings of one Deno dir in this process run one after
 * another: two at once would each remove the journals of the file the other
 * just renamed in, under a plugin that may already have it open.
 */
export function seedDenoDir(seed: string | undefined, denoDir: string): Promise<boolean> {
  const run = () => seedOnce(seed, denoDir);
  const mine = (seedings.get(denoDir) ?? Promise.resolve(false)).then(run, run);
  seedings.set(denoDir, mine);
  const forget = () => {
    if (seedings.get(denoDir) === mine) seedings.delete(denoDir);
  };
  mine.then(forget, forget);
  return mine;
}

/** Each Deno dir's seeding under way in this process, the last one asked for. */
const seedings = new Map<string, Promise<boolean>>();

async function seedOnce(seed: string | undefined, denoDir: string): Promise<boolean> {
  if (!seed) return false;
  const marker = join(denoDir, `${SEED_MARKER}${basename(seed)}`);
  if (await Deno.lstat(marker).then(() => true, () => false)) return false;
  await sweepAbandonedCopies(dirname(denoDir));
  let copied = 0;
  for (const name of SEEDED_CACHES) {
    const target = join(denoDir, name);
    // Made beside the Deno dir, where no plugin writes: a root host's chmod of a name in the
    // Deno dir follows a link the plugin swapped in (review 35); the rename then follows none.
    const temp = join(dirname(denoDir), `.${name}.seed-${crypto.randomUUID()}`);
    try {
      await Deno.copyFile(join(seed, name), temp);
      // Its age is when it was made, for the sweep: a copy may keep the seed's time (a clone).
      const now = new Date();
      await Deno.utime(temp, now, now);
      await Deno.chmod(temp, 0o644);
      // An old database's journals would be replayed into the new one.
      for (const journal of ["-wal", "-shm", "-journal"]) {
        await Deno.remove(`${target}${journal}`).catch(() => {});
      }
      await Deno.rename(temp, target);
      copied++;
    } catch {
      await Deno.remove(temp).catch(() => {});
    }
  }
  if (copied < SEEDED_CACHES.length) return copied > 0; // tried again at the next start
  // createNew: O_EXCL, so a name a plugin planted (a link included) is never written through.
  await Deno.writeFile(marker, new Uint8Array(), { createNew: true }).catch(() => {});
  return true;
}

/** A seeding's temporary copy: `.<cache>.seed-<uuid>` ({@linkcode seedDenoDir}). */
const COPY_NAME = new RegExp(`^\\.(?:${SEEDED_CACHES.join("|")})\\.seed-[0-9a-f-]{36}$`);

/** How old a temporary copy must be to count as abandoned: a copy takes milliseconds. */
const ABANDONED_MS = 60_000;

/**
 * Removes the temporary copies a seeding left beside a Deno dir when its
 * host died between the copy and the rename (each about as large as the
 * seed's file). Only names of that form, older than a minute: a younger one
 * may be another host's seeding under way. The folder is the host's alone
 * (no plugin writes there), and `remove` follows no link.
 */
async function sweepAbandonedCopies(folder: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!COPY_NAME.test(entry.name)) continue;
      const path = join(folder, entry.name);
      const info = await Deno.lstat(path).catch(() => undefined);
      const age = Date.now() - (info?.mtime?.getTime() ?? Date.now());
      if (age > ABANDONED_MS) await Deno.remove(path).catch(() => {});
    }
  } catch {
    // Nothing to sweep: the folder is new, or unreadable (the seeding then fails as before).
  }
}

/** The start of the empty file whose name says which seed a Deno dir was given. */
export const SEED_MARKER = "plugbox-seeded-";
