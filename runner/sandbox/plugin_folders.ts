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
 * code that ran with the Python plugin's grants (review 119). So is the
 * cache a launch's snapshot is in, when it is not the writer's own (whose
 * own cache is a code root already): a later start finds its snapshot by
 * the folder's hash and runs it unread (review 125). A lock still notices a
 * folder changed from outside the process.
 * @module
 */

import { note, othersOverlapping, type OwnedPaths } from "./owned_paths.ts";

/** Plugin folders launched in this process, each with who it is (name and folder). */
const roots: OwnedPaths = new Map();
/** Folders given to write in this process, each with the plugins given them. */
const writers: OwnedPaths = new Map();

/** What {@linkcode refuseOthersCode} needs of a start. */
export interface FolderHolder {
  /** Its name, for messages. */
  name?: string;
  /** Its folder; a start without one (a test's) is judged by its grants alone. */
  root?: string;
  /** A command plugin's: the folders its program and interpreter load from. */
  runtimeFolders?: readonly string[];
  /** The cache its snapshot is in, which its next start runs unread (review 125). */
  cacheDir?: string;
  /** Its write grants. */
  grants: { write: readonly string[] };
  /** Who it is: its name and folder, so its own restart is not another's. */
  owner: string;
}

/**
 * Refuses a launch whose folder overlaps a folder another launch in this
 * process was given to write, or whose write grant overlaps another
 * launched plugin's folder.
 *
 * @throws {TypeError} naming both folders.
 */
export function refuseOthersCode(start: FolderHolder): void {
  for (const folder of codeOf(start)) {
    const writer = othersOverlapping(writers, folder, start.owner);
    if (writer) {
      const what = folder === start.root
        ? "folder"
        : folder === start.cacheDir
        ? "cache"
        : "runtime's folder";
      throw new TypeError(
        `Cannot start plugin "${start.name}": its ${what} "${folder}" overlaps "${writer}", ` +
          `which another plugin was given to write in this process, and which could so put its ` +
          `own code in this plugin's place, to run with this plugin's grants; keep plugin ` +
          `folders apart from every write grant`,
      );
    }
  }
  for (const folder of start.grants.write) {
    const root = othersOverlapping(roots, folder, start.owner);
    if (root) {
      throw new TypeError(
        `Cannot grant write "${folder}": it overlaps "${root}", code of a plugin started ` +
          `in this process (its folder, its cache, or where its interpreter loads from), which this plugin ` +
          `could replace, to run with that plugin's grants at its next start; grant a folder ` +
          `apart from it`,
      );
    }
  }
}

/** A start's code: its folder, its runtime's folders and its cache. */
function codeOf(start: FolderHolder): string[] {
  return [
    ...(start.root === undefined ? [] : [start.root]),
    ...start.runtimeFolders ?? [],
    ...(start.cacheDir === undefined ? [] : [start.cacheDir]),
  ];
}

/** Records a launched start's folder and write grants. */
export function rememberFolders(start: FolderHolder): void {
  note(roots, codeOf(start), start.owner);
  note(writers, start.grants.write, start.owner);
}
