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
import { osReason } from "./claim_file.ts";
import { pathFolders } from "./path_programs.ts";

/** The cache: $PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox, else ~/.cache/plugbox. */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("PLUGBOX_CACHE_DIR");
  if (explicit) return explicit;
  const base = Deno.env.get("XDG_CACHE_HOME") ||
    join(Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? Deno.cwd(), ".cache");
  return join(base, "plugbox");
}

/**
 * Every folder {@linkcode defaultCacheDir} names for this user: the one
 * this process's environment names, and `~/.cache/plugbox` and
 * `$XDG_CACHE_HOME/plugbox`, which `plug` and this user's other hosts use
 * when their environment sets no `PLUGBOX_CACHE_DIR` (review 96).
 */
export function defaultCacheDirs(): string[] {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const dirs = [defaultCacheDir()];
  if (home) dirs.push(join(home, ".cache", "plugbox"));
  if (xdg) dirs.push(join(xdg, "plugbox"));
  return [...new Set(dirs)];
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
  const path = spelledPath(value, what);
  // No path holds a NUL: "%00" reached Deno, whose TypeError showed the NUL raw (review 137).
  if (path.includes("\0")) {
    throw new TypeError(`Cannot start plugin: ${what} "${neutralize(path, 300)}" holds a NUL`);
  }
  return path;
}

function spelledPath(value: string | URL, what: string): string {
  // A scheme of two or more letters is a URL (one letter is a Windows drive).
  if (value instanceof URL || /^[a-z][a-z0-9+.-]+:/i.test(value)) {
    const url = new URL(value);
    // Shown without its credentials (review 145: "https://user:password@host/" was quoted whole,
    // into whatever log the error reaches).
    const shown = new URL(url);
    [shown.username, shown.password] = ["", ""];
    if (url.protocol !== "file:") {
      throw new TypeError(
        `Cannot start plugin: ${what} must be a local path or file: URL, got "${
          neutralize(shown.href, 300)
        }"`,
      );
    }
    try {
      return fileURLToPath(url);
    } catch (cause) {
      // "%ZZ" was a bare URIError, "%2F" and a host node's own words (review 137).
      throw new TypeError(
        `Cannot start plugin: ${what} "${neutralize(shown.href, 300)}" names no local path (${
          neutralize((cause as Error).message, 200)
        })`,
        { cause },
      );
    }
  }
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Cannot start plugin: ${what} must be a path or URL, got ${typeof value}`);
  }
  return absolutePath(value);
}

/**
 * The plugin's entry: an existing regular file, by its real path, which
 * must be the very file looked at (`hooks.afterLook` runs between the look
 * and the real path, for tests).
 */
export function resolveEntry(
  module: string | URL,
  hooks: { afterLook?: () => void } = {},
): string {
  const path = toPath(module, "the module");
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (cause) {
    // Only a missing file is "does not exist": a host without --allow-read learns that instead.
    // So is a name below a file ("main.ts/"), which was Deno's own NotADirectory (review 137).
    const missing = cause instanceof Deno.errors.NotFound ||
      cause instanceof Deno.errors.NotADirectory;
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    // A loop on the way, a name too long, a folder not searchable: Deno's bare error named no
    // module, and the CLI took it for a failure of its own, exit code 1 (review 165).
    if (!missing) {
      throw new TypeError(
        `Cannot start plugin: module "${neutralize(path)}" cannot be looked up: ${osReason(cause)}`,
        { cause },
      );
    }
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
  hooks.afterLook?.();
  // The real path is the file looked at: a main.ts its folder swapped for a link just after the
  // look was followed, and the folder the link led to became the plugin's root, its name and its
  // snapshot (review 156: 264 of 20,000 starts, against a loop of swaps).
  let real: string | undefined;
  let now: Deno.FileInfo | undefined;
  try {
    real = canonicalPath(path);
    now = Deno.lstatSync(real);
  } catch {
    // gone meanwhile: refused below, as changed
  }
  if (now?.ino !== info.ino || now?.dev !== info.dev || !now.isFile) {
    throw new PreflightError({
      plugin: neutralize(basename(dirname(path)), 64),
      reason: "entry",
      path,
      detail: `module "${neutralize(path)}" changed while it was looked at (it became a link, ` +
        `or another file); start it again once its folder is still`,
    });
  }
  return real!;
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
    // The default cache too, for a host with a cache of its own: `plug` and this user's other
    // hosts run the snapshots there (review 92: a plugin rewrote one).
    defaultCacheDir(),
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
  // And the host's PATH (review 110): plugbox runs sh, bwrap, setpriv, prlimit, ldd and a command
  // plugin's interpreter from the first of its folders that holds them, on the host, and so do
  // the host's own programs (a python3 a plugin left in ~/.local/bin ran as the host at the next
  // start); and where a link there leads (review 113). Canonical already: see pathFolders.
  return [...new Set([...roots.map((r) => trimSeparator(canonicalLoose(r))), ...pathFolders()])];
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

/** The start of the name of what is moved aside until it is removed: emptied dirs, a stray file. */
const TRASH = ".deno_dir.emptied-";
/** The start of the name of a run, ffi or all grant's own Deno dir: `deno_dir.native-<uuid>`. */
const OWN = "deno_dir.native-";
/**
 * The own Deno dirs this process made that a plan or a running plugin may
 * still use, each with the dir opened and `flock`ed: the kernel drops that
 * lock when this process ends, so a sweep in any process, in any PID
 * namespace, knows a dir is no one's once it can lock it (review 49: a pid
 * in the name was another process's, or this one's, in another namespace).
 */
const ownInUse = new Map<string, Deno.FsFile>();
/** Trash names given to one `rm`: thousands of them overflowed its argument list. */
const SWEEP_BATCH = 256;
/** How long a start waits for the trash's removal; what is left is removed at a later start. */
const SWEEP_MS = 1_000;

/**
 * Moves `path` aside into the trash beside `base`'s Deno dir, by a rename:
 * the name is free at once, whatever it holds (12,000 nested folders
 * overflowed Deno's recursive remove and aborted the host: reviews 45, 48).
 */
function moveToTrash(base: string, path: string): Promise<void> {
  return Deno.rename(path, join(base, `${TRASH}${crypto.randomUUID()}`));
}

/**
 * Removes the trash beside `base`'s Deno dir with `rm -rf
 * --one-file-system`, through `sh` as a plugin's command is, and own Deno
 * dirs no process holds locked any more (released, or their host is gone).
 * A walk by path in the host followed a link a still-running copy of the
 * plugin swapped in for a folder it had listed, and removed host files
 * outside the trash (review 46); GNU `rm` walks by open folder, never
 * through a link, to any depth. Names go to `rm` 256 at a time, all within
 * {@linkcode SWEEP_MS}: a plugin that left a million files held its next
 * start and any stop of it for 15 s (review 48); `rm` removes as it goes,
 * so later starts finish the work. A folder `rm` could not remove (made
 * unwritable by its plugin, on a host not root) is made writable by
 * `chmod -R`, then removed. Without `sh` nothing is removed.
 */
async function sweepTrash(
  base: string,
  sh: string | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!sh) return; // no shell on this host: the trash stays
  let trash: Deno.DirEntry[];
  try {
    for await (const entry of Deno.readDir(base)) {
      if (entry.isDirectory && entry.name.startsWith(OWN)) {
        await trashIfReleased(base, join(base, entry.name));
      }
    }
    trash = (await Array.fromAsync(Deno.readDir(base))).filter((e) => e.name.startsWith(TRASH));
  } catch {
    return;
  }
  const deadline = Date.now() + SWEEP_MS;
  for (let at = 0; at < trash.length && Date.now() < deadline; at += SWEEP_BATCH) {
    const batch = trash.slice(at, at + SWEEP_BATCH);
    const names = batch.map((e) => join(base, e.name));
    const removed = await shell(sh, "rm -rf --one-file-system", names, { deadline, signal });
    if (removed !== false) continue; // removed, or the shell cannot run: the trash stays
    // A folder its plugin made unwritable, on a host not root (review 49): writable again, then
    // removed. Only folders are named: chmod follows a link named to it (never one met inside).
    // A host modes do not bind failed for another reason (a process still writing there), and a
    // chmod through what that process swaps in would change any file (review 50): none then.
    const folders = batch.filter((e) => e.isDirectory).map((e) => join(base, e.name));
    if (folders.length === 0 || modesBypassed()) continue;
    await shell(sh, "chmod -R u+rwx", folders, { deadline, signal });
    await shell(sh, "rm -rf --one-file-system", names, { deadline, signal });
  }
}

/**
 * Sweeps the trash of every plugin's folder in the cache as its own next
 * start would (review 159: a run, ffi or all grant's own Deno dir, 1.15 MB
 * and what its plugin wrote there, stayed in the trash until that plugin
 * was started again, for good for a folder never started again). Own Deno
 * dirs a process still holds are left. Each folder within its own second.
 *
 * @example
 * ```ts ignore
 * await sweepPluginTrash("/home/me/.cache/plugbox", "/bin/sh");
 * ```
 */
export async function sweepPluginTrash(cacheDir: string, sh: string | undefined): Promise<void> {
  const plugins = join(cacheDir, "plugins");
  const entries = await Array.fromAsync(Deno.readDir(plugins)).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory) await sweepTrash(join(plugins, entry.name), sh, undefined);
  }
}

let bypassed: boolean | undefined;
/** Whether this process overrides file modes (`CAP_DAC_OVERRIDE`, as root usually does). */
function modesBypassed(): boolean {
  if (bypassed === undefined) {
    try {
      const status = Deno.readTextFileSync("/proc/self/status");
      const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0";
      bypassed = (BigInt(`0x${hex}`) & 2n) !== 0n; // bit 1: CAP_DAC_OVERRIDE
    } catch {
      bypassed = true; // unknown (a host without /proc/self): no chmod, the trash may stay
    }
  }
  return bypassed;
}

/**
 * Runs `<command> -- names...` through the host's shell (the one its tools
 * found, as a plugin's command is run), SIGKILLed at the deadline (a stopped
 * process would keep a SIGTERM pending, and the start waiting). Whether it
 * succeeded; undefined when it cannot be spawned. At the start's abort it is
 * SIGKILLed too, and rejects with the abort's reason once it has exited
 * (what it left, a later start removes).
 */
async function shell(
  sh: string,
  command: string,
  names: string[],
  { deadline, signal }: { deadline: number; signal: AbortSignal | undefined },
) {
  signal?.throwIfAborted();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(sh, {
      args: ["-c", `exec ${command} -- "$@"`, "sh", ...names],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    return undefined;
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already
    }
  };
  const timer = setTimeout(kill, Math.max(0, deadline - Date.now()));
  signal?.addEventListener("abort", kill, { once: true });
  try {
    const { success } = await child.status;
    signal?.throwIfAborted();
    return success;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", kill);
  }
}

/**
 * Moves an own Deno dir into the trash if no process holds it locked any
 * more (released, or its host is gone: the kernel unlocks it whatever the
 * PID namespace), holding its lock through the move: let go before it,
 * another host's start made and locked a dir in between, and the move took
 * it from under its running plugin (review 54). Only the folder locked is
 * moved, not another renamed to its name meanwhile. `hooks.beforeMove`
 * runs with the lock held, just before the move (for tests).
 *
 * @example
 * ```ts ignore
 * await trashIfReleased(base, join(base, "deno_dir.native-…"));
 * ```
 */
export async function trashIfReleased(
  base: string,
  dir: string,
  hooks: { beforeMove?: () => Promise<void> } = {},
): Promise<void> {
  if (ownInUse.has(dir)) return;
  const file = await lockFolder(dir).catch(() => undefined); // not ours to judge
  if (!file) return;
  try {
    await hooks.beforeMove?.();
    await moveToTrash(base, dir).catch(() => {});
  } finally {
    file.close(); // unlocks
  }
}

/**
 * `dir` opened and locked (`flock`, until the file is closed) while it is
 * still the folder at that name; undefined when another process holds it,
 * or it moved or went meanwhile. Throws what opening it threw otherwise.
 */
async function lockFolder(dir: string): Promise<Deno.FsFile | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(dir, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    if (file.tryLockSync(true)) {
      const there = await Deno.lstat(dir).catch(() => undefined);
      if (there?.ino === (await file.stat()).ino) return file;
    }
  } catch {
    // below
  }
  file.close();
  return undefined;
}

/**
 * Per-plugin state: an empty home, and for a start with a `run`, `ffi` or
 * `all` grant a Deno dir of its own.
 *
 * Every other start runs in the SDK's read-only seed (code_cache.ts), which
 * the caller picks: Deno writes nothing there, so a plugin cannot grow it
 * during a run. A program or native code of the plugin's can write what
 * modes or mounts forbid Deno, so such a start gets a Deno dir made for it
 * and moved out once it ends ({@linkcode releaseDenoDir}): no other start,
 * before, after or at the same time, ever uses it (review 48). A Deno dir
 * an earlier plugbox kept per plugin (which its plugins wrote, about 40
 * MB/s for one importing `data:` modules) is moved into the trash. Returns
 * notes for the plan. At `signal`'s abort the trash's removal is killed and
 * no Deno dir is made: it rejects with the abort's reason.
 * `hooks.beforeLock` runs between an own Deno dir's making and its locking
 * (for tests).
 */
export async function pluginDirs(
  cacheDir: string,
  root: string,
  name: string,
  options: {
    ownBecause?: string;
    sh: string | undefined;
    signal?: AbortSignal;
    hooks?: { beforeLock?: (dir: string) => Promise<void> };
  },
): Promise<{ ownDenoDir?: string; home: string; notes: string[] }> {
  const id = createHash("sha256").update(root).digest("hex").slice(0, 16);
  const base = join(cacheDir, "plugins", `${name}-${id}`);
  const home = join(base, "home");
  const notes: string[] = [];
  const legacy = join(base, "deno_dir");
  if (await Deno.lstat(legacy).then(() => true, () => false)) {
    // A folder nested deeper than a path reaches, or a link: a rename moves either whole.
    const moved = await moveToTrash(base, legacy).then(() => true, () => false);
    if (moved) {
      notes.push("deno dir: the one earlier starts wrote is moved aside (now none is writable)");
    }
  }
  await Deno.remove(join(base, "deno_dir.written-by-native-code")).catch(() => {});
  // What this or an earlier start left.
  await sweepTrash(base, options.sh, options.signal);
  // Aborted once the sweep is done: no Deno dir is made for a start that is over.
  options.signal?.throwIfAborted();
  let ownDenoDir: string | undefined;
  try {
    if (options.ownBecause) {
      ownDenoDir = await makeOwn(base, options.hooks?.beforeLock);
      notes.push(`deno dir: its own for this start, removed once it ends (${options.ownBecause})`);
      await blockStorage(ownDenoDir);
    }
    await Deno.mkdir(home, { recursive: true });
  } catch (error) {
    if (ownDenoDir) releaseDenoDir(ownDenoDir);
    throw new TypeError(
      `Cannot start plugin "${name}": its folder "${base}" could not be made ready (${
        neutralize((error as Error).message, 200)
      })`,
    );
  }
  return { ...(ownDenoDir ? { ownDenoDir } : {}), home, notes };
}

/**
 * Makes a run, ffi or all grant's own Deno dir, locked. Another process's
 * sweep may lock and move it aside between its making and its locking; it
 * is then made again under another name.
 */
async function makeOwn(
  base: string,
  beforeLock?: (dir: string) => Promise<void>,
): Promise<string> {
  for (let attempt = 0;; attempt++) {
    const dir = join(base, `${OWN}${crypto.randomUUID()}`);
    await Deno.mkdir(dir, { recursive: true });
    await beforeLock?.(dir);
    // Another host's sweep may lock it, or move it, before this start locks it (review 54).
    const held = await lockFolder(dir);
    if (held) {
      ownInUse.set(dir, held);
      return dir;
    }
    if (attempt > 2) throw new Error(`another process kept moving "${dir}" aside`);
  }
}

/**
 * Ends the use of a run, ffi or all grant's own Deno dir, once its plugin
 * has ended (or its plan failed): it is moved into the trash, which the next
 * start of the plugin removes. Any other Deno dir is left as it is.
 *
 * @example
 * ```ts ignore
 * const { ownDenoDir } = await pluginDirs(cache, root, "p", { ownBecause: "a run grant", sh: "/bin/sh" });
 * releaseDenoDir(ownDenoDir!); // the plugin ended
 * ```
 */
export function releaseDenoDir(denoDir: string): void {
  const held = ownInUse.get(denoDir);
  if (!held) return;
  ownInUse.delete(denoDir);
  held.close(); // unlocked: no one's now
  try {
    Deno.renameSync(denoDir, join(dirname(denoDir), `${TRASH}${crypto.randomUUID()}`));
  } catch {
    // gone already; or the next start finds it released
  }
}

/**
 * A file where Deno wants the web storage folder of a run, ffi or all
 * grant's own Deno dir: localStorage and the Cache API fail in the plugin,
 * so it has no unbounded storage (THREATS T7). The dir is new and this
 * process's alone until the plugin spawns, so nothing can be there yet
 * (`createNew` refuses anything that is). The read-only seed every other
 * start runs in needs none: Deno can make nothing there.
 */
async function blockStorage(denoDir: string): Promise<void> {
  await Deno.writeFile(join(denoDir, "location_data"), new Uint8Array(), {
    createNew: true,
    mode: 0o444,
  });
}
