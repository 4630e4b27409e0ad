/**
 * Where the host's programs are: the folders on its `PATH`, and the places
 * a link in one of them leads through to its file. plugbox runs `sh`,
 * `bwrap`, `setpriv`, `prlimit`, `ldd` and a command plugin's interpreter
 * from there, on the host, and so do the host's own programs; all of it is
 * code (a write grant over it is refused).
 * @module
 */

import { dirname, join } from "node:path";
import { canonicalLoose, resolveChain, trimSeparator } from "./paths.ts";

/** The most entries read of one PATH folder: a folder of millions would hold every start. */
export const MAX_PATH_ENTRIES = 16_384;

/**
 * The host's PATH folders, canonical (an empty or relative entry is the
 * working folder, or one below it), and for each link in one, every link
 * on its way to the file and the folder of that file, whether the file
 * exists yet or not: `~/.local/bin/tool` is often a link into a
 * virtual environment, `/usr/bin/editor` one through `/etc/alternatives`,
 * and a plugin that could write there replaced what the host ran by the
 * link's name (review 113). A folder that cannot be read adds only itself.
 *
 * @example
 * ```ts ignore
 * pathFolders("/usr/bin"); // ["/usr/bin", "/etc/alternatives", "/usr/lib/jvm/…/bin", …]
 * ```
 */
export function pathFolders(path: string = Deno.env.get("PATH") ?? "/usr/bin:/bin"): string[] {
  // Read again only where a folder read changed (a link made, removed or pointed elsewhere
  // changes its folder's times): reading every PATH folder cost each start 7 to 25 ms here. A
  // relative entry is the working folder's, which is part of the key (review 115).
  const key = `${path}\0${workingFolder()}`;
  if (last?.key === key && last.times === timesOf(last.watched).times) return last.found;
  const started = Date.now();
  const folders = path.split(":").map((dir) => trimSeparator(canonicalLoose(dir || ".")));
  const found = new Set(folders);
  const watched = new Set(folders);
  for (const folder of new Set(folders)) {
    for (const link of linksIn(folder)) {
      for (const place of linkedPlaces(link, watched)) found.add(place);
    }
  }
  // Each by the way it was reached too, followed: a PATH entry through a link (an SDK's
  // `current`, switched to another version) or a folder on a link's way replaced by a link
  // changed no folder above, and the old answer stayed (review 115).
  for (const dir of path.split(":")) watched.add(dir || ".");
  for (const place of found) watched.add(place);
  const { times, newest } = timesOf([...watched]);
  // A time is kept to the millisecond, and a file system's clock ticks coarser still: a change in
  // the tick of one seen here left every time as read, and this answer without it for good (1,329
  // of 2,000 links made just after a read, review 119). A folder changed that recently is read
  // again next time, as git's index treats a "racy" file.
  const answer = [...found];
  last = newest < started - RACY_MS
    ? { key, found: answer, watched: [...watched], times }
    : undefined;
  return answer;
}

/** How long before a read a folder's last change must be for the read to be kept: past any tick. */
export const RACY_MS = 2_000;

/** The last {@linkcode pathFolders} answer, and the folders whose times it holds while unchanged. */
let last: { key: string; found: string[]; watched: string[]; times: string } | undefined;

/** The host's working folder; empty where it was removed. */
function workingFolder(): string {
  try {
    return Deno.cwd();
  } catch {
    return "";
  }
}

/**
 * The real paths, inodes and change times of `folders`, as one string ("-" for one not there), and
 * the newest change time among them. The real path too: a folder on the way replaced by a link to
 * the same folder moved (`mv app app-1.0 && ln -s app-1.0 app`) left every folder watched as it
 * was, and the place found by its old path, no longer its real one (review 119).
 */
function timesOf(folders: string[]): { times: string; newest: number } {
  let newest = -Infinity;
  // A file (a link's own path, followed) by its folder's real path: fewer to follow, as telling.
  const reals = new Map<string, string>();
  const real = (path: string) =>
    reals.get(path) ?? reals.set(path, Deno.realPathSync(path)).get(path);
  const times = folders.map((folder) => {
    try {
      const info = Deno.statSync(folder);
      const changed = info.ctime?.getTime() ?? Infinity; // the kernel's: no one sets it back
      newest = Math.max(newest, changed);
      const where = real(info.isDirectory ? folder : dirname(folder));
      return `${where}:${info.dev}:${info.ino}:${info.mtime?.getTime()}:${changed}`;
    } catch {
      return "-";
    }
  }).join(",");
  return { times, newest };
}

/** The links among the first {@linkcode MAX_PATH_ENTRIES} entries of `folder`. */
function linksIn(folder: string): string[] {
  const links: string[] = [];
  let read = 0;
  try {
    for (const entry of Deno.readDirSync(folder)) {
      if (++read > MAX_PATH_ENTRIES) break;
      if (entry.isSymlink) links.push(join(folder, entry.name));
    }
  } catch {
    // not there, or not readable by the host: nothing it runs from there is found through it
  }
  return links;
}

/**
 * Each link on the way from `link` to its file (by its own path: who may
 * write the folder it lies in may point it elsewhere), and the folder of
 * that file (the folder itself when the link leads to one). The folders
 * that hold those links, and the last that exists on the way to a missing
 * file, go in `watched`: a change there may change the answer.
 */
function linkedPlaces(link: string, watched: Set<string>): string[] {
  let chain;
  try {
    chain = resolveChain(link, { partial: true });
  } catch {
    return []; // a loop of links leads to no program
  }
  if (!chain) return [];
  const links = chain.links.map((step) => step.path);
  for (const step of links) watched.add(dirname(step));
  if (chain.missing) {
    // The walk stopped at its last name visited: the folder above it is the last that exists.
    const existing = dirname(chain.visited.at(-1)!);
    watched.add(existing);
    return [...links, dirname(join(existing, ...chain.missing))];
  }
  let isFolder = false;
  try {
    isFolder = Deno.statSync(chain.real).isDirectory;
  } catch {
    // gone since the walk: its folder, as for a file
  }
  return [...links, isFolder ? chain.real : dirname(chain.real)];
}

/**
 * The folders of `programs` the host found once and keeps running (`sh`, `bwrap`, `setpriv`,
 * `prlimit`: found on the PATH of the first start in a process) that the PATH no longer holds,
 * with where their links lead, as {@linkcode pathFolders} reads them. A host that changed its PATH
 * since still ran them from there, and a folder gone from PATH was no code to a write grant: a
 * plugin granted it replaced `sh`, run as the host at the next start (review 119).
 */
export function programFolders(programs: readonly (string | undefined)[]): string[] {
  const current = new Set(pathFolders());
  const gone = [...new Set(programs.flatMap((program) => program ? [dirname(program)] : []))]
    .filter((folder) => !current.has(trimSeparator(canonicalLoose(folder))));
  return gone.length > 0 ? pathFolders(gone.join(":")) : [];
}
