/**
 * Where things are: the cache, the host's own Deno dir and code (which a
 * write grant must not cover), the plugin's entry and its per-plugin dirs.
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { absolutePath, canonicalLoose, canonicalPath, trimSeparator } from "./paths.ts";
import { configuredLibraries } from "./loader_config.ts";

/** The cache: $PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox, else ~/.cache/plugbox. */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("PLUGBOX_CACHE_DIR");
  if (explicit) return explicit;
  const base = Deno.env.get("XDG_CACHE_HOME") ||
    join(Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? Deno.cwd(), ".cache");
  return join(base, "plugbox");
}

/** The host's own module cache, which no grant may write over. */
export function hostDenoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? "/";
  // Deno's own defaults, per platform.
  switch (Deno.build.os) {
    case "darwin":
      return join(home, "Library", "Caches", "deno");
    case "windows":
      return join(Deno.env.get("LOCALAPPDATA") ?? join(home, "AppData", "Local"), "deno");
    default:
      return join(Deno.env.get("XDG_CACHE_HOME") || join(home, ".cache"), "deno");
  }
}

/** A module or root given as a path or URL, as an absolute path. */
export function toPath(value: string | URL, what: string): string {
  // A scheme of two or more letters is a URL (one letter is a Windows drive).
  if (value instanceof URL || /^[a-z][a-z0-9+.-]+:/i.test(value)) {
    const url = new URL(value);
    if (url.protocol !== "file:") {
      throw new TypeError(
        `Cannot start plugin: ${what} must be a local path or file: URL, got "${url}"`,
      );
    }
    return fileURLToPath(url);
  }
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Cannot start plugin: ${what} must be a path or URL, got ${typeof value}`);
  }
  return absolutePath(value);
}

/** The plugin's entry: an existing regular file, by its real path. */
export function resolveEntry(module: string | URL): string {
  const path = toPath(module, "the module");
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (cause) {
    // Only a missing file is "does not exist": a host without --allow-read learns that instead.
    if (!(cause instanceof Deno.errors.NotFound)) throw cause;
    throw new TypeError(`Cannot start plugin: module "${neutralize(path)}" does not exist`, {
      cause,
    });
  }
  if (!info.isFile) {
    throw new PreflightError({
      plugin: neutralize(basename(dirname(path)), 64),
      reason: "entry",
      path,
      detail: `module "${
        neutralize(path)
      }" must be a regular file, not a link, folder or special file`,
    });
  }
  return canonicalPath(path);
}

/** Where the dynamic loader finds the system's shared libraries (the loader itself included). */
const SYSTEM_LIBRARIES = [
  "/lib",
  "/lib32",
  "/libx32",
  "/lib64",
  "/usr/lib",
  "/usr/lib32",
  "/usr/libx32",
  "/usr/lib64",
  "/usr/local/lib",
];

/**
 * The folders the dynamic loader takes shared libraries from: the system's
 * and those its configuration names, where they exist.
 *
 * @example
 * ```ts ignore
 * libraryFolders(); // ["/lib", "/lib64", "/usr/lib", ..., "/usr/local/lib"]
 * ```
 */
export function libraryFolders(): string[] {
  return [...SYSTEM_LIBRARIES, ...configuredLibraries()].filter((folder) => {
    try {
      return Deno.statSync(folder).isDirectory;
    } catch {
      return false;
    }
  });
}

/**
 * Folders holding code, canonical: a write grant overlapping one is refused
 * (THREATS T8). Each is real-pathed here, once, so a symlinked install or
 * Deno dir is compared by the folder it really is (THREATS T15).
 */
export function codeRoots(root: string, cacheDir: string, deno: string): string[] {
  // The system's library folders too: a plugin that could write there would replace the libc
  // that every later start (and the host's own programs) load (review 27).
  const roots = [
    root,
    cacheDir,
    hostDenoDir(),
    dirname(deno),
    ...SYSTEM_LIBRARIES,
    "/usr/libexec", // programs other programs run
    ...configuredLibraries(),
  ];
  const own = new URL("../../", import.meta.url);
  if (own.protocol === "file:") roots.push(fileURLToPath(own));
  // In a Worker there is no main module (undefined): see mainModuleUnknown().
  const main: string | undefined = Deno.mainModule;
  if (main?.startsWith("file:")) roots.push(dirname(fileURLToPath(main)));
  return [...new Set(roots.map((r) => trimSeparator(canonicalLoose(r))))];
}

/**
 * Why the host's own code cannot be located, when it cannot: in a Web
 * Worker `Deno.mainModule` is undefined, and the worker's own URL (a
 * `blob:`, `data:` or a file anywhere) says nothing of where the main
 * module lies. Then no write grant can be checked clear of it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mainModuleUnknown } from "./locate.ts";
 * assert.equal(mainModuleUnknown(), undefined); // on the main thread
 * ```
 */
export function mainModuleUnknown(): string | undefined {
  if (Deno.mainModule !== undefined) return undefined;
  return "it is asked from a Web Worker, where plugbox cannot tell where the host's main module " +
    "lies (Deno.mainModule is undefined there), so it cannot check the grant stays clear of the " +
    "host's code; plan from the main thread";
}

/** Most a plugin's Deno dir may hold, kept between starts; more and it starts afresh. */
export const DENO_DIR_MAX_BYTES = 64 * 1024 * 1024;
/** Most entries walked to measure it; more and it starts afresh. */
const DENO_DIR_MAX_ENTRIES = 5_000;

/** Whether the Deno dir holds more than it may keep (a walk that follows no link). */
async function overgrown(denoDir: string): Promise<boolean> {
  let bytes = 0;
  let entries = 0;
  const stack = [denoDir];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (++entries > DENO_DIR_MAX_ENTRIES) return true;
        const path = join(dir, entry.name);
        if (entry.isDirectory) stack.push(path);
        else if (entry.isFile) bytes += (await Deno.lstat(path).catch(() => undefined))?.size ?? 0;
        if (bytes > DENO_DIR_MAX_BYTES) return true;
      }
    } catch {
      // gone meanwhile, or unreadable: counts as nothing
    }
  }
  return false;
}

/** The start of an emptied Deno dir's name, moved aside until it is removed. */
const TRASH = ".deno_dir.emptied-";
/**
 * Removes the emptied Deno dirs beside `base`'s with `rm -rf
 * --one-file-system`, through `sh` as a plugin's command is. A walk by path
 * in the host followed a link a still-running copy of the plugin swapped in
 * for a folder it had listed, and removed host files outside the trash
 * (review 46); GNU `rm` walks by open folder, never through a link, to any
 * depth. What it cannot remove (a folder its plugin made unwritable, on a
 * host not root) stays: it is no plugin's Deno dir. Without `sh` nothing is
 * removed.
 */
async function sweepTrash(base: string): Promise<void> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(base)))
      .filter((e) => e.isDirectory && e.name.startsWith(TRASH)).map((e) => join(base, e.name));
  } catch {
    return;
  }
  if (names.length === 0) return;
  try {
    await new Deno.Command("sh", {
      args: ["-c", 'exec rm -rf --one-file-system -- "$@"', "sh", ...names],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // no sh for this host: the trash stays
  }
}

/**
 * Per-plugin state: its own Deno dir (no web storage) and an empty home.
 *
 * The Deno dir is the one folder a plugin writes that outlives it (Deno's
 * caches). Deno itself writes there only what the plugin's real modules
 * compile to, but a program or native code of the plugin's (a `run`, `ffi`
 * or `all` grant) can write anything, so a later start would load a module
 * graph or compiled code the check never saw (review 43). So a start with
 * such a grant marks the dir, beside it where no plugin writes, and the
 * next start of that plugin begins from an empty one; so does a start whose
 * dir grew past {@linkcode DENO_DIR_MAX_BYTES} (a plugin importing `data:`
 * modules fills it, about 40 MB/s). Returns notes for the plan.
 */
export async function pluginDirs(
  cacheDir: string,
  root: string,
  name: string,
  options: { untrusted: boolean },
): Promise<{ denoDir: string; home: string; notes: string[] }> {
  const id = createHash("sha256").update(root).digest("hex").slice(0, 16);
  const base = join(cacheDir, "plugins", `${name}-${id}`);
  const denoDir = join(base, "deno_dir");
  const home = join(base, "home");
  const notes: string[] = [];
  const mark = join(base, "deno_dir.written-by-native-code");
  const marked = await Deno.lstat(mark).then(() => true, () => false);
  if (marked || await overgrown(denoDir)) {
    // Moved aside, not removed in place: the new dir is empty at once, whatever the old one holds
    // (12,000 nested folders overflowed Deno's recursive remove and aborted the host; a folder its
    // plugin made unwritable kept a poisoned file: review 45). A dir that cannot be moved aside
    // refuses the start; the old one is removed by `rm` (sweepTrash).
    try {
      await Deno.rename(denoDir, join(base, `${TRASH}${crypto.randomUUID()}`));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new TypeError(
          `Cannot start plugin "${name}": its Deno dir "${denoDir}" must start empty and cannot be moved aside (${
            (error as Error).name
          })`,
        );
      }
    }
    notes.push(
      marked
        ? "deno dir: started empty (a run, ffi or all grant let the last start write it freely)"
        : `deno dir: started empty (it held more than ${DENO_DIR_MAX_BYTES} bytes or ${DENO_DIR_MAX_ENTRIES} entries)`,
    );
  }
  // What this or an earlier emptying left.
  await sweepTrash(base);
  await Deno.mkdir(denoDir, { recursive: true });
  await Deno.mkdir(home, { recursive: true });
  if (options.untrusted) await Deno.writeFile(mark, new Uint8Array());
  else if (marked) await Deno.remove(mark).catch(() => {});
  await lockStorage(base, denoDir);
  return { denoDir, home, notes };
}

/**
 * A file where Deno wants the web storage folder: localStorage and the
 * Cache API fail in the plugin, so it has no unbounded storage (THREATS
 * T7). Made beside the Deno dir and renamed in: a write or chmod through the
 * name would follow a link a running copy of the plugin swapped in, and
 * truncate and chmod any file as the host (review 43); rename follows none.
 */
async function lockStorage(base: string, denoDir: string): Promise<void> {
  const storage = join(denoDir, "location_data");
  const info = await Deno.lstat(storage).catch(() => undefined);
  if (info?.isFile) return;
  const temp = join(base, `.location_data-${crypto.randomUUID()}`);
  await Deno.writeFile(temp, new Uint8Array(), { createNew: true, mode: 0o444 });
  try {
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.rename(temp, storage);
        return;
      } catch (error) {
        // A folder there (Deno's own storage, or the plugin's) is not replaced by a rename.
        if (attempt > 2) throw error;
        await Deno.remove(storage, { recursive: true }).catch(() => {});
      }
    }
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}
