/**
 * A plugin folder's files opened one folder at a time, as `openat` opens
 * them: each folder on the way is opened from the one before it (through
 * its descriptor's `/proc/self/fd/<n>` entry), never following a link and
 * never opening what is not a folder, so a folder the plugin's checkout
 * swaps for a link after the walk looked leads nowhere. By path, `open`
 * followed such a link and opened what lay beyond it, outside the folder
 * (a FIFO, whose blocked writer it released; a device, which an open alone
 * may set going, as a watchdog's does), before the checks on the open file
 * refused it (review 156; review 100 had closed the terminal alone).
 * Deno opens a path under `/proc/self/fd` only for a host with
 * `--allow-all`, as it reads `/proc` only then: a host with less opens the
 * files by path, as before, its snapshot's checks on the open file alone
 * refusing what a swap led to.
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

const FOLDER = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** What an open of a folder that became a link, another kind of file, or nothing, fails with. */
const SWAPPED = new Set<unknown>(["ELOOP", "ENOTDIR", "ENOENT"]);

/**
 * The folders open on the way to the files being read, the root's first:
 * files read in the walk's order share the folders they have in common.
 */
export class FolderChain {
  /** Open folders, each with its path below the root ("" for the root). */
  readonly #open: { rel: string; handle: FileHandle }[] = [];

  /**
   * A chain from `root` (canonical), or undefined where descriptors cannot be
   * opened through: without `/proc/self/fd` (not Linux, no `/proc`, or a host
   * short of `--allow-all`, which Deno refuses it), files are opened by path
   * as before. Rejects with the open's error (`ELOOP`, `ENOTDIR`, `ENOENT`)
   * where `root` itself is no longer a folder: read by path, a root swapped
   * for a link was followed (review 158).
   */
  static async from(root: string): Promise<FolderChain | undefined> {
    if (Deno.build.os !== "linux") return undefined;
    let handle: FileHandle;
    try {
      handle = await open(root, FOLDER);
    } catch (error) {
      if (SWAPPED.has((error as { code?: unknown }).code)) throw error;
      return undefined;
    }
    const chain = new FolderChain();
    chain.#open.push({ rel: "", handle });
    try {
      await Deno.stat(`/proc/self/fd/${handle.fd}/.`);
      return chain;
    } catch {
      await chain.close();
      return undefined;
    }
  }

  /**
   * Opens the file `rel` (below the root, `/`-separated) with `flags`, the
   * folders on its way one by one. Rejects with the error of the step that
   * failed: `ELOOP` where a folder became a link, `ENOTDIR` where it became
   * anything else.
   */
  async openFile(rel: string, flags: number): Promise<FileHandle> {
    const names = rel.split("/");
    const name = names.pop()!;
    const folder = await this.#folder(names);
    return await open(`/proc/self/fd/${folder.fd}/${name}`, flags | constants.O_NOFOLLOW);
  }

  /** The open folder of the path `names`, opening what is not open yet. */
  async #folder(names: string[]): Promise<FileHandle> {
    // Keep the open folders this path shares; close the rest (deepest first).
    let kept = 1;
    while (kept < this.#open.length && kept <= names.length) {
      if (this.#open[kept].rel !== names.slice(0, kept).join("/")) break;
      kept++;
    }
    while (this.#open.length > kept) await this.#open.pop()!.handle.close();
    for (let depth = kept; depth <= names.length; depth++) {
      const parent = this.#open[depth - 1].handle;
      const handle = await open(`/proc/self/fd/${parent.fd}/${names[depth - 1]}`, FOLDER);
      this.#open.push({ rel: names.slice(0, depth).join("/"), handle });
    }
    return this.#open[names.length].handle;
  }

  /** Closes every folder it holds. */
  async close(): Promise<void> {
    while (this.#open.length > 0) await this.#open.pop()!.handle.close().catch(() => {});
  }
}
