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

/** Per-plugin state: its own Deno dir (no web storage) and an empty home. */
export async function pluginDirs(
  cacheDir: string,
  root: string,
  name: string,
): Promise<{ denoDir: string; home: string }> {
  const id = createHash("sha256").update(root).digest("hex").slice(0, 16);
  const base = join(cacheDir, "plugins", `${name}-${id}`);
  const denoDir = join(base, "deno_dir");
  const home = join(base, "home");
  await Deno.mkdir(denoDir, { recursive: true });
  await Deno.mkdir(home, { recursive: true });
  // A file where Deno wants the web storage folder: localStorage and the
  // Cache API fail in the plugin, so it has no unbounded storage (THREATS T7).
  const storage = join(denoDir, "location_data");
  const info = await Deno.lstat(storage).catch(() => undefined);
  if (!info) await Deno.writeFile(storage, new Uint8Array(), { mode: 0o444 });
  else if (!info.isFile) {
    await Deno.remove(storage, { recursive: true }).then(() =>
      Deno.writeFile(storage, new Uint8Array())
    );
  }
  return { denoDir, home };
}
