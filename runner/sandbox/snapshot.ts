/**
 * A content-addressed, read-only copy of the plugin's folder, made before
 * every start: the plugin runs from what was checked and cannot change it
 * between check and run (THREATS T2). The walk refuses links, special files
 * and config files Deno would obey (T5).
 * @module
 */

import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { takeSnapshotBudget, takeWalkTurn } from "./snapshot_budget.ts";
import { FolderChain } from "./folder_chain.ts";
import { holdLease, leaseSnapshot, stampUse } from "./snapshot_use.ts";
import { keepWithin, recordSize } from "./snapshot_prune.ts";
import { removeReadOnly, sweepBuilds } from "./snapshot_leftovers.ts";

export { removeReadOnly } from "./snapshot_leftovers.ts";
export { releaseSnapshot } from "./snapshot_use.ts";

/**
 * Bounds on what a plugin folder may hold.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Kv } from "./plugins/kv/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/kv/main.ts", {
 *   contracts: [Kv],
 *   snapshotLimits: { maxFiles: 200, maxBytes: 4 * 1024 * 1024 },
 * });
 * ```
 */
export interface SnapshotLimits {
  /**
   * Most files.
   * @default {2000}
   */
  maxFiles?: number;
  /**
   * Most bytes in all files together.
   * @default {64 MiB}
   */
  maxBytes?: number;
  /**
   * Deepest folder nesting.
   * @default {32}
   */
  maxDepth?: number;
  /**
   * Most entries of every kind together (files and folders): a folder of
   * a million empty folders costs the walk as much as a million files.
   * @default {5000}
   */
  maxEntries?: number;
}

/**
 * A snapshot in the cache.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const { snapshot } = await previewStart("./plugins/hello/main.ts");
 * console.log(`${snapshot.files} files, ${snapshot.bytes} bytes, sha256 ${snapshot.hash}`);
 * console.log(`runs ${snapshot.entry} from ${snapshot.dir}`);
 * ```
 */
export interface Snapshot {
  /** The snapshot folder (read-only). */
  dir: string;
  /** SHA-256 of the folder's content and layout. */
  hash: string;
  /** The entry module's path inside the snapshot. */
  entry: string;
  /** How many files were copied. */
  files: number;
  /** Their total size. */
  bytes: number;
}

/**
 * Names Deno (or npm) reads on its own when they sit beside or above a
 * module; `--no-config` stops most, but a plugin folder has no business
 * holding them.
 */
export const CONFIG_NAMES: ReadonlySet<string> = new Set([
  "deno.json",
  "deno.jsonc",
  "deno.lock",
  "package.json",
  "package-lock.json",
  ".npmrc",
  "node_modules",
  "import_map.json",
]);

interface FileCopy {
  rel: string;
  bytes: Uint8Array;
  /** Executable by its owner: a command plugin's own program stays runnable. */
  exec: boolean;
}

interface Walk {
  plugin: string;
  root: string;
  limits: Required<SnapshotLimits>;
  files: FileCopy[];
  dirs: string[];
  bytes: number;
  entries: number;
  /** When the walk must be over, in `Date.now()` time. */
  deadline: number;
  timeoutMs: number;
  /** The start's: the walk and the copy end at its abort (the copy's build folder removed). */
  signal?: AbortSignal;
  /** Each file as the walk saw it, in the order of `files`, read after the walk. */
  listed: { path: string; info: Deno.FileInfo }[];
}

// File names come from the plugin's folder: the message shows them neutralised (THREATS T20).
function refuse(walk: Walk, reason: string, path: string, detail: string): never {
  throw new PreflightError({ plugin: walk.plugin, reason, path, detail: neutralize(detail, 2000) });
}

/** A path from the plugin's folder as messages show it: its names are the folder's, not ours. */
function shown(path: string): string {
  return neutralize(path, 300);
}

/**
 * Refuses an entry the host could not read, saying why in words of its own:
 * Deno's message would quote the path raw, escapes and all, or a lossy
 * spelling of a name that is not UTF-8 (review 41).
 */
function unreadable(walk: Walk, path: string, error: unknown): never {
  const code = (error as { code?: unknown } | null)?.code;
  const why = error instanceof Deno.errors.NotFound
    ? path.includes("\uFFFD")
      ? "has a name that is not valid UTF-8 (shown with \uFFFD), which plugbox cannot read"
      : "vanished while the folder was read"
    : error instanceof Deno.errors.PermissionDenied
    ? "cannot be read by the host (permission denied)"
    : code === "ENAMETOOLONG"
    ? "has a path too long for the system to read"
    : `cannot be read (${typeof code === "string" ? code : "an error"})`;
  refuse(walk, "unreadable", path, `"${shown(path)}" ${why}`);
}

/** Counts one entry against the limits and the deadline; ends the walk at the start's abort. */
function count(walk: Walk, path: string): void {
  walk.signal?.throwIfAborted();
  if (++walk.entries > walk.limits.maxEntries) {
    refuse(
      walk,
      "limits",
      path,
      `the folder holds more than ${walk.limits.maxEntries} entries (files and folders)`,
    );
  }
  if (Date.now() > walk.deadline) {
    refuse(walk, "limits", path, `walking the folder took longer than ${walk.timeoutMs} ms`);
  }
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "not a regular file or folder";
}

/**
 * Reads a file seen by `lstat`, refusing it if it changed since: opened
 * without following a final link and without blocking on a FIFO, then
 * checked to be the same regular file with one name (a hard link is
 * another file's content), reached without links, of the same size; at
 * most that size (plus one byte, to notice growth) is read. With `via`,
 * opened through the folders on its way one by one, none followed if it
 * became a link (folder_chain.ts); without, by path.
 */
export async function readUnchanged(
  plugin: string,
  path: string,
  before: Deno.FileInfo,
  via?: { chain: FolderChain; rel: string },
): Promise<Uint8Array> {
  const changed = (why: string): never => {
    throw new PreflightError({
      plugin,
      reason: "special-file",
      path,
      detail: neutralize(`"${shown(path)}" changed while it was being copied (${why})`, 2000),
    });
  };
  let handle: FileHandle;
  try {
    // O_NOCTTY: O_NOFOLLOW judges the last name only, so a folder on the way swapped for a link
    // to /dev/pts after the walk's lstat opened a terminal, a session leader's own (review 100).
    // Through `via`, the folders on the way one by one, none a link (folder_chain.ts): by path, a
    // folder swapped for a link opened what lay beyond it, a FIFO or device (review 156).
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK |
      constants.O_NOCTTY;
    handle = await (via ? via.chain.openFile(via.rel, flags) : open(path, flags));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (via && (code === "ELOOP" || code === "ENOTDIR")) {
      changed(`a folder on its way, or the file, became a link or another kind of file: ${code}`);
    }
    if (code === "EACCES" || code === "EPERM") {
      throw new PreflightError({
        plugin,
        reason: "unreadable",
        path,
        detail: neutralize(`"${shown(path)}" cannot be read by the host (permission denied)`, 2000),
      });
    }
    return changed(typeof code === "string" ? code : "it could not be opened");
  }
  try {
    const after = await handle.stat();
    if (!after.isFile()) changed("no longer a regular file");
    if (Number(after.ino) !== before.ino || Number(after.dev) !== before.dev) changed("replaced");
    // Checked on the open file, so a link made after the walk's lstat is caught too.
    if (Number(after.nlink) > 1) {
      throw new PreflightError({
        plugin,
        reason: "special-file",
        path,
        detail: neutralize(`"${shown(path)}" is a hard link (${after.nlink} names)`, 2000),
      });
    }
    if (Deno.realPathSync(path) !== path) changed("reached through a link");
    const bytes = new Uint8Array(before.size + 1);
    let offset = 0;
    while (offset < bytes.length) {
      const { bytesRead } = await handle.read(bytes, offset, bytes.length - offset, null);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    if (offset !== before.size) changed(`size ${before.size} became ${offset}+`);
    return bytes.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

async function visit(walk: Walk, dir: string, depth: number): Promise<void> {
  if (depth > walk.limits.maxDepth) {
    refuse(
      walk,
      "limits",
      dir,
      `"${shown(dir)}" is nested deeper than ${walk.limits.maxDepth} folders`,
    );
  }
  // Counted as they are read: a folder of a million names is refused at the limit, not listed.
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      count(walk, join(dir, entry.name));
      names.push(entry.name);
    }
  } catch (error) {
    walk.signal?.throwIfAborted(); // the start's abort, not an unreadable folder
    if (error instanceof PreflightError) throw error;
    unreadable(walk, dir, error);
  }
  for (const name of names.sort()) {
    walk.signal?.throwIfAborted();
    const path = join(dir, name);
    if (CONFIG_NAMES.has(name)) {
      refuse(walk, "config-file", path, `"${shown(path)}" is a config file Deno or npm would obey`);
    }
    const info = await Deno.lstat(path).catch((error) => unreadable(walk, path, error));
    const rel = relative(walk.root, path);
    if (info.isDirectory) {
      walk.dirs.push(rel);
      await visit(walk, path, depth + 1);
    } else if (info.isFile) {
      if (walk.files.length >= walk.limits.maxFiles) {
        refuse(walk, "limits", path, `the folder holds more than ${walk.limits.maxFiles} files`);
      }
      walk.bytes += info.size;
      if (walk.bytes > walk.limits.maxBytes) {
        refuse(walk, "limits", path, `the folder holds more than ${walk.limits.maxBytes} bytes`);
      }
      // Read once the whole folder is listed and its bytes are this process's to hold.
      walk.listed.push({ path, info });
      walk.files.push({ rel, bytes: new Uint8Array(), exec: ((info.mode ?? 0) & 0o100) !== 0 });
    } else {
      refuse(walk, "special-file", path, `"${shown(path)}" is ${kindOf(info)}`);
    }
  }
}

function digest(walk: Walk): string {
  const hash = createHash("sha256");
  for (const dir of walk.dirs) hash.update(`d\0${dir}\0`);
  for (const file of walk.files) {
    hash.update(`${file.exec ? "x" : "f"}\0${file.rel}\0${file.bytes.length}\0`).update(file.bytes);
  }
  return hash.digest("hex");
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function write(walk: Walk, target: string): Promise<void> {
  const parent = dirname(target);
  await Deno.mkdir(parent, { recursive: true });
  await sweepBuilds(parent).catch(() => {});
  const temp = await Deno.makeTempDir({ dir: parent, prefix: ".tmp-" });
  try {
    for (const dir of walk.dirs) await Deno.mkdir(join(temp, dir));
    for (const file of walk.files) {
      walk.signal?.throwIfAborted(); // the build folder is removed below
      await Deno.writeFile(join(temp, file.rel), file.bytes);
      await Deno.chmod(join(temp, file.rel), file.exec ? 0o555 : 0o444);
    }
    for (const dir of [...walk.dirs].reverse()) await Deno.chmod(join(temp, dir), 0o555);
    await Deno.chmod(temp, 0o555);
    await Deno.rename(temp, target).catch(async (error) => {
      if (!(await exists(target))) throw error; // lost a race to an identical snapshot
    });
  } finally {
    if (await exists(temp)) await removeReadOnly(temp);
  }
}

/** The longest name a build folder in `snapshots/` may have (`.tmp-` and a random part). */
const BUILD_NAME_BYTES = 32;
/** Linux's PATH_MAX, the terminating NUL included. */
const PATH_MAX = 4096;

/**
 * Refuses a folder whose copy would have a path too long for the system:
 * the walk judged the paths under the plugin's own folder, and the cache's
 * may be longer (review 58: a copy failed with Deno's own error, the
 * plugin's names in it raw).
 */
function refuseLongCopies(walk: Walk, snapshots: string): void {
  const base = utf8Bytes(snapshots) + 1 + BUILD_NAME_BYTES + 1;
  for (const rel of [...walk.dirs, ...walk.files.map((file) => file.rel)]) {
    if (base + utf8Bytes(rel) >= PATH_MAX) {
      refuse(
        walk,
        "limits",
        join(walk.root, rel),
        `"${shown(join(walk.root, rel))}" would have a path over ${PATH_MAX} bytes in plugbox's ` +
          `cache ("${shown(snapshots)}"); shorten its names or use a cache with a shorter path`,
      );
    }
  }
}

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/**
 * Copies the plugin folder `root` into `<cacheDir>/snapshots/<hash>`, unless
 * an identical snapshot is already there, and returns where the entry is.
 * Rejects with `signal.reason` once `signal` aborts, its build folder gone.
 * It waits for one of the process's walk turns first (snapshot_budget.ts),
 * and its deadline, `timeoutMs`, counts from then.
 *
 * @throws {PreflightError} for a link, special file, config file, or a
 * folder over the limits, naming the path.
 */
export async function takeSnapshot(
  root: string,
  entry: string,
  options: {
    plugin: string;
    cacheDir: string;
    limits?: SnapshotLimits;
    timeoutMs?: number;
    signal?: AbortSignal;
    /** Most bytes the cache's snapshots may hold once this one is written (`Infinity`: no bound). */
    cacheBytes?: number;
  },
): Promise<Snapshot> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const done = await takeWalkTurn(options.signal);
  let taken: Taken;
  try {
    taken = await walkAndCopy(root, entry, options, timeoutMs);
  } finally {
    done();
  }
  // Once its walk turn and bytes are given back: a pruning lists every snapshot, seconds for tens
  // of thousands, and other starts of this process, those that find theirs made too, waited on
  // it for a turn (review 160). Its lease is held: no pruning takes this one.
  if (taken.written) {
    await keepWithin(
      join(options.cacheDir, "snapshots"),
      options.cacheBytes ?? DEFAULT_CACHE_BYTES,
      taken.size,
    );
  }
  return taken.snapshot;
}

/** A snapshot taken, whether this start wrote it, and its size as the cache's bound counts it. */
interface Taken {
  snapshot: Snapshot;
  written: boolean;
  size: number;
}

/** {@linkcode takeSnapshot}'s work once its turn has come. */
async function walkAndCopy(
  root: string,
  entry: string,
  options: Parameters<typeof takeSnapshot>[2],
  timeoutMs: number,
): Promise<Taken> {
  const walk: Walk = {
    plugin: options.plugin,
    root,
    limits: {
      maxFiles: 2000,
      maxBytes: 64 * 1024 * 1024,
      maxDepth: 32,
      maxEntries: 5000,
      ...options.limits,
    },
    files: [],
    dirs: [],
    bytes: 0,
    entries: 0,
    deadline: Date.now() + timeoutMs,
    timeoutMs,
    signal: options.signal,
    listed: [],
  };
  await visit(walk, root, 0);
  const started = Date.now();
  const giveBack = await takeSnapshotBudget(walk.bytes, options.signal);
  try {
    // The wait in line was other starts' doing, not this folder's.
    walk.deadline += Date.now() - started;
    await readListed(walk);
    return await copyWalked(walk, root, entry, options);
  } finally {
    giveBack();
  }
}

/** Reads every file the walk listed, each as it was seen (see {@linkcode readUnchanged}). */
async function readListed(walk: Walk): Promise<void> {
  const chain = await FolderChain.from(walk.root).catch((error) =>
    refuse(
      walk,
      "special-file",
      walk.root,
      `"${shown(walk.root)}" changed while it was being copied (the plugin's folder became a ` +
        `link or another kind of file: ${(error as { code?: unknown }).code})`,
    )
  );
  try {
    for (const [at, { path, info }] of walk.listed.entries()) {
      walk.signal?.throwIfAborted();
      if (Date.now() > walk.deadline) {
        refuse(walk, "limits", path, `walking the folder took longer than ${walk.timeoutMs} ms`);
      }
      const via = chain && { chain, rel: walk.files[at].rel.split(sep).join("/") };
      walk.files[at].bytes = await readUnchanged(walk.plugin, path, info, via);
    }
  } finally {
    await chain?.close();
  }
}

/** The snapshot of a walked and read folder, copied into the cache unless it is there. */
async function copyWalked(
  walk: Walk,
  root: string,
  entry: string,
  { cacheDir }: { cacheDir: string },
): Promise<Taken> {
  const rel = relative(root, entry);
  if (!walk.files.some((f) => f.rel === rel)) {
    refuse(
      walk,
      "entry",
      entry,
      `entry "${shown(entry)}" is not a regular file inside "${shown(root)}"`,
    );
  }
  const hash = digest(walk);
  const snapshots = join(cacheDir, "snapshots");
  const dir = join(snapshots, hash.slice(0, 32));
  // Held before the look: a removal in any host process then leaves this snapshot be, or has
  // moved it out before the look (snapshot_use.ts). Released at the plugin's end.
  const lease = await leaseSnapshot(snapshots, hash.slice(0, 32), walk.signal);
  let written = false;
  let size = 0;
  try {
    if (!(await exists(dir))) {
      refuseLongCopies(walk, snapshots);
      await write(walk, dir);
      written = true;
    }
    stampUse(dir);
    if (written) size = await recordSize(snapshots, hash.slice(0, 32), walk);
  } catch (error) {
    lease.release();
    throw error;
  }
  const snapshot: Snapshot = {
    dir,
    hash,
    entry: join(dir, ...rel.split(sep)),
    files: walk.files.length,
    bytes: walk.bytes,
  };
  holdLease(snapshot, lease);
  return { snapshot, written, size };
}

/** How many bytes the cache's snapshots may hold together, unless the host says. */
export const DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024;
