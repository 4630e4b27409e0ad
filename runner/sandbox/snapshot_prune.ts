/**
 * Keeps the cache's snapshots within a size: before review 159 nothing
 * removed one, and each new content of a plugin folder left up to its
 * `maxBytes` (64 MiB by default) for good. Only a snapshot no host process
 * uses is removed (snapshot_use.ts), those used longest ago first, with
 * what was kept for it (its size, its module-graph verdicts); a removal
 * interrupted midway (SIGKILL) leaves a folder no start uses, which the
 * next removal takes.
 * @module
 */

import { join } from "node:path";
import { tryClaim } from "./claim_file.ts";
import { ASIDE, BUILD_LEFTOVER_MS, removeReadOnly } from "./snapshot_leftovers.ts";
import { exists, gatePath, LEASE_NAME, USE_DIR } from "./snapshot_use.ts";

/** A snapshot's folder name: the first 32 hex digits of its hash. */
const SNAPSHOT_NAME = /^[0-9a-f]{32}$/;
/** The sizes' folder, in `snapshots/`: a snapshot's, once measured, never changes. */
const SIZES_DIR = ".sizes";
/** What each file and folder costs beyond its bytes: about a block of the disk. */
const ENTRY_BYTES = 4096;

/** What a snapshot's size counts: its files' bytes, and a block for each file and folder. */
function sizeOf(files: number, bytes: number): number {
  return bytes + ENTRY_BYTES * (files + 1);
}

/** Records the size of the snapshot `name` just written from `walk`, and returns it. Best effort. */
export async function recordSize(
  snapshots: string,
  name: string,
  walk: { files: unknown[]; dirs: unknown[]; bytes: number },
): Promise<number> {
  await Deno.mkdir(join(snapshots, SIZES_DIR), { recursive: true }).catch(() => {});
  const size = sizeOf(walk.files.length + walk.dirs.length, walk.bytes);
  // Written new, then renamed over whatever is there: a FIFO at the name is never opened (review
  // 160: its open waited for a reader for good), nor is a link followed.
  const own = join(snapshots, SIZES_DIR, `${name}.${crypto.randomUUID()}`);
  try {
    await Deno.writeTextFile(own, `${size}\n`, { createNew: true });
    await Deno.rename(own, join(snapshots, SIZES_DIR, name));
  } catch {
    await Deno.remove(own).catch(() => {});
  }
  return size;
}

/** Snapshots a listing looks at between two turns of the event loop. */
const LIST_BATCH = 256;

/** Most bytes of a size's file: digits and a newline. */
const SIZE_FILE_BYTES = 32;

/**
 * The text of the size's file at `path`, or "" for none: only a regular
 * file's, of a few bytes. Opened for writing too, which never waits on a
 * FIFO (review 160: a FIFO there, read as a file, held every start that
 * wrote a snapshot in that host process for good, and every start of the
 * process behind it); a link to a device or a large file is read as none.
 * Read at once, a few system calls: a listing reads one a snapshot.
 */
function sizeFileText(path: string): string {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch {
    return "";
  }
  try {
    const info = file.statSync();
    if (!info.isFile || info.size > SIZE_FILE_BYTES) return "";
    const buffer = new Uint8Array(SIZE_FILE_BYTES + 1);
    let filled = 0;
    for (;;) {
      const read = file.readSync(buffer.subarray(filled));
      if (read === null || read === 0) break;
      filled += read;
      if (filled > SIZE_FILE_BYTES) return "";
    }
    return new TextDecoder().decode(buffer.subarray(0, filled));
  } catch {
    return "";
  } finally {
    file.close();
  }
}

/** The size recorded for `name`, else measured (and recorded): one an older plugbox wrote. */
async function sizeOfSnapshot(snapshots: string, name: string): Promise<number> {
  const text = sizeFileText(join(snapshots, SIZES_DIR, name));
  if (/^\d+\n$/.test(text)) return Number(text);
  let entries = 0;
  let bytes = 0;
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      entries++;
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else bytes += (await Deno.lstat(path)).size;
    }
  };
  await walk(join(snapshots, name)).catch(() => {});
  await recordSize(snapshots, name, { files: new Array(entries), dirs: [], bytes });
  return sizeOf(entries, bytes);
}

/** The entries of `dir`; none when it cannot be read. */
async function entriesOf(dir: string): Promise<Deno.DirEntry[]> {
  return await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
}

/** One snapshot as a removal sees it. */
interface Found {
  name: string;
  size: number;
  /** When it was last used (its folder's time, stamped by each start). */
  used: number;
}

async function listSnapshots(snapshots: string): Promise<Found[]> {
  const found: Found[] = [];
  let seen = 0;
  for await (const entry of Deno.readDir(snapshots)) {
    if (!entry.isDirectory || !SNAPSHOT_NAME.test(entry.name)) continue;
    // Each snapshot's look at once (review 160: 20,000 took 1.2-2.2 s a start as async calls),
    // the event loop let go between batches.
    if (++seen % LIST_BATCH === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(join(snapshots, entry.name));
    } catch {
      continue; // removed meanwhile
    }
    const size = await sizeOfSnapshot(snapshots, entry.name);
    found.push({ name: entry.name, size, used: info.mtime?.getTime() ?? 0 });
  }
  return found.sort((a, b) => a.used - b.used || (a.name < b.name ? -1 : 1));
}

/** The leases in `.use/`, by snapshot name. */
async function leasesByName(snapshots: string): Promise<Map<string, string[]>> {
  const byName = new Map<string, string[]>();
  for (const entry of await entriesOf(join(snapshots, USE_DIR))) {
    const match = LEASE_NAME.exec(entry.name);
    if (!match) continue;
    byName.set(match[1], [...byName.get(match[1]) ?? [], entry.name]);
  }
  return byName;
}

/**
 * Whether the lease file at `path` is held by a live process: one that can
 * be locked is a dead process's (a lease is locked before it is linked in,
 * and removed before it is let go), and is removed.
 */
function heldLease(path: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch {
    return false; // released meanwhile
  }
  try {
    if (!file.tryLockSync(true)) return true;
    const there = Deno.lstatSync(path);
    if (there.ino === file.statSync().ino) Deno.removeSync(path);
    return false;
  } catch {
    return false;
  } finally {
    file.close();
  }
}

/**
 * Moves the snapshot `name` out of `snapshots` and removes it, unless a
 * process holds a lease on it, or another removal holds its gate, or
 * `unused` says no more (judged under the gate). Whether it was removed.
 */
async function removeUnused(
  snapshots: string,
  name: string,
  leases: string[],
  unused: (info: Deno.FileInfo) => boolean,
): Promise<boolean> {
  const fail = (detail: string) => new Error(detail);
  let gate;
  try {
    gate = tryClaim(gatePath(snapshots, name), fail);
  } catch {
    return false;
  }
  if (!gate) return false; // another removal's
  const aside = join(snapshots, `${ASIDE}${crypto.randomUUID()}`);
  try {
    // Leases made since the listing: a start links its lease before it looks at the gate.
    const now = await leasesByName(snapshots);
    for (const lease of new Set([...leases, ...now.get(name) ?? []])) {
      if (heldLease(join(snapshots, USE_DIR, lease))) return false;
    }
    const info = Deno.lstatSync(join(snapshots, name));
    if (!info.isDirectory || !unused(info)) return false;
    Deno.renameSync(join(snapshots, name), aside);
  } catch {
    return false; // gone meanwhile
  } finally {
    gate.release();
  }
  await removeReadOnly(aside).catch(() => {}); // what is left, the next removal takes
  await Deno.remove(join(snapshots, SIZES_DIR, name)).catch(() => {});
  await removeVerdicts(join(snapshots, "..", "verified"), name);
  return true;
}

/** Removes the module-graph verdicts kept for the snapshot `name` (graph_cache.ts). */
async function removeVerdicts(verified: string, name: string): Promise<void> {
  for (const entry of await entriesOf(verified)) {
    if (entry.name.startsWith(`${name}-`)) {
      await Deno.remove(join(verified, entry.name)).catch(() => {});
    }
  }
}

/** What {@linkcode pruneSnapshots} removes. */
export interface PruneRule {
  /** Most bytes the snapshots may hold together: those used longest ago go first. */
  maxBytes?: number;
  /** Remove every snapshot not used for this long, in ms. */
  unusedForMs?: number;
  /** Runs after the listing of leases, before a removal's gate is claimed (for tests). */
  beforeGate?: (name: string) => Promise<void>;
}

/**
 * What a pruning did.
 *
 * @example
 * ```ts ignore
 * import { pruneCache } from "@plugbox/plugbox";
 * const { removed, kept, inUse } = await pruneCache({ unusedForMs: 24 * 60 * 60 * 1000 });
 * console.log(`removed ${removed}; kept ${kept}, ${inUse} of them in use by a plugin`);
 * ```
 */
export interface PruneResult {
  /** Snapshots removed. */
  removed: number;
  /** Their size: their files' bytes, and 4 KiB for each file and folder. */
  removedBytes: number;
  /** Snapshots kept. */
  kept: number;
  /** Their size. */
  keptBytes: number;
  /** Those of the kept that a process was using, so none could be removed. */
  inUse: number;
}

/**
 * Removes snapshots from `snapshots` by `rule`, the least recently used
 * first, never one a process in any host holds a lease on; then what is
 * kept beside those gone. (A write sweeps build folders and removals left
 * by hosts that died midway: snapshot_leftovers.ts.)
 */
export async function pruneSnapshots(snapshots: string, rule: PruneRule): Promise<PruneResult> {
  const result: PruneResult = { removed: 0, removedBytes: 0, kept: 0, keptBytes: 0, inUse: 0 };
  const found = await listSnapshots(snapshots).catch(() => []);
  const leases = await leasesByName(snapshots);
  let total = found.reduce((sum, snapshot) => sum + snapshot.size, 0);
  const oldest = rule.unusedForMs === undefined ? -Infinity : Date.now() - rule.unusedForMs;
  for (const snapshot of found) {
    const tooOld = snapshot.used < oldest;
    const over = rule.maxBytes !== undefined && total > rule.maxBytes;
    if (tooOld || over) {
      // Under the gate: used since the listing (stamped), it is no longer the oldest.
      const unused = (info: Deno.FileInfo) => (info.mtime?.getTime() ?? 0) <= snapshot.used;
      await rule.beforeGate?.(snapshot.name);
      if (await removeUnused(snapshots, snapshot.name, leases.get(snapshot.name) ?? [], unused)) {
        total -= snapshot.size;
        result.removed++;
        result.removedBytes += snapshot.size;
        continue;
      }
      result.inUse++;
    }
    result.kept++;
    result.keptBytes += snapshot.size;
  }
  await sweepUses(snapshots, new Set(found.map((snapshot) => snapshot.name)));
  return result;
}

/**
 * Removes what is kept beside snapshots that are gone (their sizes), the
 * leases no process holds (a dead process's, beside a snapshot kept or
 * not), and a lease's or gate's half-made file a host left an hour ago
 * (claim_file.ts names them `<name>.<uuid>`).
 */
async function sweepUses(snapshots: string, names: Set<string>): Promise<void> {
  const there = (name: string) => names.has(name) || exists(join(snapshots, name));
  for (const entry of await entriesOf(join(snapshots, SIZES_DIR))) {
    if (!there(entry.name)) {
      await Deno.remove(join(snapshots, SIZES_DIR, entry.name)).catch(() => {});
    }
  }
  for (const entry of await entriesOf(join(snapshots, USE_DIR))) {
    const path = join(snapshots, USE_DIR, entry.name);
    const lease = LEASE_NAME.exec(entry.name);
    if (lease) {
      // Removed unless held, its snapshot there or not (review 160: a host killed, or a `plug
      // check` that ended, left one for good beside a snapshot kept, each read by every removal).
      heldLease(path);
      continue;
    }
    if (/\.prune$/.test(entry.name)) continue; // a gate: its removal's own
    const info = await Deno.lstat(path).catch(() => undefined);
    const made = info?.mtime?.getTime();
    if (made !== undefined && Date.now() - made > BUILD_LEFTOVER_MS) {
      await Deno.remove(path).catch(() => {});
    }
  }
}

/** For tests: runs as each pruning after a write begins (review 160). */
export const keepWithinHooks: { beforePruning?: () => Promise<void> } = {};

/** Pruning after a new snapshot is written: no two at once in one process. */
let pruning: Promise<unknown> = Promise.resolve();

/**
 * How long a listing's total serves this process's writes before it lists
 * again: what other host processes wrote meanwhile is not in it.
 */
const TOTAL_SERVES_MS = 10 * 60_000;

/**
 * Per snapshots folder: what its last listing found kept, in bytes, plus
 * what was written since, and when it listed. Kept in this process and in
 * `snapshots/.total` for the next: a host process's first write listed the
 * whole cache (0.5 to 1 s at 7,434 snapshots, every test file of the suite).
 */
const totals = new Map<string, Total>();

interface Total {
  bytes: number;
  listed: number;
}

/** The running total's file, beside the snapshots (no snapshot's name, no sweep's). */
const TOTAL_FILE = ".total";

/** The total the cache's file holds, or undefined: none, not a small regular file, or malformed. */
function readTotal(snapshots: string): Total | undefined {
  const found = /^(\d{1,15}) (\d{1,15})\n$/.exec(sizeFileText(join(snapshots, TOTAL_FILE)));
  return found ? { bytes: Number(found[1]), listed: Number(found[2]) } : undefined;
}

/** Writes the running total for other host processes: a file of its own, renamed over. */
function writeTotal(snapshots: string, total: Total): void {
  const own = join(snapshots, `${TOTAL_FILE}.${crypto.randomUUID()}`);
  try {
    Deno.writeTextFileSync(own, `${total.bytes} ${total.listed}\n`, { createNew: true });
    Deno.renameSync(own, join(snapshots, TOTAL_FILE));
  } catch {
    try {
      Deno.removeSync(own);
    } catch {
      // never made
    }
  }
}

/**
 * Keeps `snapshots` within `maxBytes` once a start wrote a new snapshot of
 * `added` bytes there (a start that finds its snapshot made does none of
 * this). It lists the snapshots only when this process's running total
 * (its last listing's, plus what it wrote since) would pass `maxBytes`, or
 * is older than {@linkcode TOTAL_SERVES_MS}: listed at every write, a cache
 * of 7,434 small snapshots (251 MB, within the bound) cost each new
 * snapshot's start about 0.2 s, and review 140's restart loops tripled. What
 * other host processes write between two listings may pass the bound until
 * one of them lists. The total is kept in `snapshots/.total` too, so a
 * host process's first write lists only when the last listing of any is
 * old. Best effort: a failure leaves the cache as it was.
 */
export async function keepWithin(
  snapshots: string,
  maxBytes: number,
  added = 0,
): Promise<void> {
  if (maxBytes === Infinity) return;
  const known = totals.get(snapshots) ?? readTotal(snapshots);
  // A listing's age: one from the future (a clock set back, a file that lies) serves no one.
  const age = known ? Date.now() - known.listed : Infinity;
  if (known && age >= 0 && age < TOTAL_SERVES_MS && known.bytes + added <= maxBytes) {
    known.bytes += added;
    totals.set(snapshots, known);
    writeTotal(snapshots, known);
    return;
  }
  const turn = pruning.then(async () => {
    await keepWithinHooks.beforePruning?.();
    const listed = Date.now();
    const result = await pruneSnapshots(snapshots, { maxBytes });
    const total = { bytes: result.keptBytes, listed };
    totals.set(snapshots, total);
    writeTotal(snapshots, total);
  });
  pruning = turn.catch(() => totals.delete(snapshots));
  await pruning;
}
