/**
 * Plugin folders and write grants across the starts of one process. A
 * start's own folder is code no grant of its own may write (locate.ts
 * `codeRoots`), and another plugin's folder is code too: its next start
 * snapshots whatever the folder then holds and runs it with that plugin's
 * grants. So no launch in this process may hold a write grant that
 * overlaps another launched plugin's folder, whichever starts first
 * (review 120: a plugin given `~/projects` to write replaced the `main.ts`
 * of a plugin started from `~/projects/b`, whose next start ran it with
 * its own grants, under every layer). So is what a command plugin's
 * interpreter loads from where no code root holds it: a version manager's
 * `~/.pyenv/versions/…`, which a Deno plugin granted to write it filled with
 * code that ran with the Python plugin's grants (review 119). A lock still
 * notices a folder changed from outside the process.
 * @module
 */

import { isWithin } from "./paths.ts";

/** Plugin folders launched in this process, each with who it is (name and folder). */
const roots = new Map<string, Set<string>>();
/** Folders given to write in this process, each with the plugins given them. */
const writers = new Map<string, Set<string>>();

/** What {@linkcode refuseOthersCode} needs of a start. */
export interface FolderHolder {
  /** Its name, for messages. */
  name?: string;
  /** Its folder; a start without one (a test's) is judged by its grants alone. */
  root?: string;
  /** A command plugin's: the folders its program and interpreter load from. */
  runtimeFolders?: readonly string[];
  /** Its write grants. */
  grants: { write: readonly string[] };
  /** Who it is: its name and folder, so its own restart is not another's. */
  owner: string;
}

const overlaps = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);

/** The first path of `record` that overlaps `path` and is another's than `owner`'s. */
function another(
  record: Map<string, Set<string>>,
  path: string,
  owner: string,
): string | undefined {
  for (const [recorded, owners] of record) {
    if (overlaps(path, recorded) && (owners.size > 1 || !owners.has(owner))) return recorded;
  }
  return undefined;
}

/**
 * Refuses a launch whose folder overlaps a folder another launch in this
 * process was given to write, or whose write grant overlaps another
 * launched plugin's folder.
 *
 * @throws {TypeError} naming both folders.
 */
export function refuseOthersCode(start: FolderHolder): void {
  const code = [...(start.root === undefined ? [] : [start.root]), ...start.runtimeFolders ?? []];
  for (const folder of code) {
    const writer = another(writers, folder, start.owner);
    if (writer) {
      throw new TypeError(
        `Cannot start plugin "${start.name}": its ${
          folder === start.root ? "folder" : "runtime's folder"
        } "${folder}" overlaps "${writer}", ` +
          `which another plugin was given to write in this process, and which could so put its ` +
          `own code in this plugin's place, to run with this plugin's grants; keep plugin ` +
          `folders apart from every write grant`,
      );
    }
  }
  for (const folder of start.grants.write) {
    const root = another(roots, folder, start.owner);
    if (root) {
      throw new TypeError(
        `Cannot grant write "${folder}": it overlaps "${root}", code of a plugin started ` +
          `in this process (its folder, or where its interpreter loads from), which this plugin ` +
          `could replace, to run with that plugin's grants at its next start; grant a folder ` +
          `apart from it`,
      );
    }
  }
}

/** Records a launched start's folder and write grants. */
export function rememberFolders(start: FolderHolder): void {
  const add = (record: Map<string, Set<string>>, path: string) =>
    record.set(path, (record.get(path) ?? new Set<string>()).add(start.owner));
  if (start.root !== undefined) add(roots, start.root);
  for (const folder of start.runtimeFolders ?? []) add(roots, folder);
  for (const folder of start.grants.write) add(writers, folder);
}
