/**
 * The programs a run grant names and the libraries an ffi grant names, in an
 * OS layer's view. Deno's `--allow-run` and `--allow-ffi` let the plugin
 * start or load them; the sandbox must also hold them: bubblewrap's root
 * holds only what is mounted, and Landlock's ruleset reads and executes only
 * what it names. So each is mounted (or named) with the system's library
 * folders and the loader's cache, read-only, and runs inside the plugin's
 * sandbox, not beside it. Nothing of the file is run or read on the host to
 * find what it loads: `ldd` runs the loader, which runs an audit module the
 * file names and opens whatever it asks for, as the host (reviews 29, 30).
 *
 * What gets mounted is read from the host when the plan is made, and read
 * again when the sandbox is built (bubblewrap mirrors the paths' links,
 * Landlock's launcher opens them). So nothing along the way may be the
 * plugin's to change: a link the plugin can write would choose what the
 * sandbox shows it (any host folder, read-only) at its next start.
 @module
 */

import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { type Chain, isWithin, resolveChain } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";
import { libraryFolders } from "./locate.ts";

/** The loader's cache of where libraries are: mounted where a grant is. */
const LOADER_CACHE = "/etc/ld.so.cache";

/** What a run or ffi grant adds to an OS layer's view. */
export interface GrantedBinaries {
  /**
   * Real paths to mount as they are: each granted file, and the system's
   * library folders and the loader's cache it loads from.
   */
  files: string[];
  /**
   * The links met on the way from each granted spelling to its file, as
   * read when the grant was checked: bubblewrap makes exactly these, so the
   * name granted works in the sandbox and nothing is read from the host's
   * links again. (Landlock needs none: it judges the file a path ends at.)
   */
  symlinks: { path: string; target: string }[];
}

/** Where the plugin can change what lies there: its folder, its write grants, its Deno dir. */
export interface PluginWritable {
  root: string;
  write: readonly string[];
  denoDir: string;
}

/**
 * The programs `grants.run` names and the libraries `grants.ffi` names, for
 * the OS and Landlock layers (the Deno layer runs them on the host itself),
 * where they exist, with the library folders they load from. Refused: a
 * grant whose spelling walks through anything where the plugin can change
 * it ({@linkcode PluginWritable}): a link, a folder it later leaves with
 * `..`, the file itself; and a target that is not a regular file (a folder
 * would be mounted whole).
 *
 * @example
 * ```ts ignore
 * grantedBinaries("hello", grants, { root, write: grants.write, denoDir });
 * // { files: ["/usr/bin/mawk", "/usr/lib", ..., "/etc/ld.so.cache"], symlinks: [...] }
 * ```
 */
export function grantedBinaries(
  plugin: string,
  grants: Pick<ResolvedGrants, "run" | "ffi">,
  writable: PluginWritable,
): GrantedBinaries {
  const found: GrantedBinaries = { files: [], symlinks: [] };
  /** Mounts a checked chain's file, and makes its links, once each. */
  const add = (chain: Chain) => {
    if (!found.files.includes(chain.real)) found.files.push(chain.real);
    for (const link of chain.links) {
      if (!found.symlinks.some((known) => known.path === link.path)) found.symlinks.push(link);
    }
  };
  // What the plugin can rename or replace: anything below a write grant or its Deno dir (not the
  // folder itself, whose parent it cannot write), and all of its own folder, the author's.
  const places: [string, string, boolean][] = [
    [writable.root, "inside the plugin's folder", true],
    ...writable.write.map((dir): [string, string, boolean] => [
      dir,
      `inside write grant "${neutralize(dir, 300)}"`,
      false,
    ]),
    [writable.denoDir, "inside the plugin's Deno dir", false],
  ];
  // The folders walked through may be a write grant itself; the file at the end may not (a write
  // grant on a file lets the plugin rewrite it: review 27 had ldd read names it planted).
  const placeOf = (walked: string[], final: string) => {
    for (const path of [...walked, final]) {
      const place = places.find(([dir, , itself]) =>
        isWithin(path, dir) && (itself || path !== dir || path === final)
      );
      if (place) return { path, where: place[1] };
    }
  };
  for (const [kind, spellings] of [["run", grants.run], ["ffi", grants.ffi]] as const) {
    const refuse = (granted: string, path: string, why: string): never => {
      throw new PreflightError({
        plugin,
        reason: `${kind}-grant`,
        path,
        detail: neutralize(
          `${kind} grant "${neutralize(granted, 300)}" ${why}: under an OS layer a granted ${
            kind === "run" ? "program" : "library"
          } is mounted in the sandbox as found on the host, so it must be a file, and nothing on the way to it may be where the plugin can change it; grant another path, or use isolation "deno"`,
          2000,
        ),
      });
    };
    for (const granted of spellings) {
      let chain: Chain | undefined;
      try {
        chain = resolveChain(granted);
      } catch (error) {
        refuse(granted, granted, `cannot be followed (${(error as Error).message})`);
      }
      if (!chain) continue; // nothing to load, as without a sandbox
      const walked = placeOf(chain.visited, chain.real);
      if (walked) {
        const what = walked.path === chain.real
          ? "leads to a file"
          : `goes through "${walked.path}"`;
        refuse(granted, walked.path, `${what} ${walked.where}`);
      }
      if (!Deno.statSync(chain.real).isFile) {
        refuse(granted, chain.real, `leads to "${chain.real}", which is not a file`);
      }
      // No ldd, no ELF reading: the loader, run as the host on a file someone else built, runs
      // code the file names (an audit module) and opens what it asks for (a FIFO, a device)
      // (reviews 29, 30). The file gets the system's library folders instead, below.
      add(chain);
    }
  }
  // What a granted file loads comes from the system's library folders (code: no write grant
  // may cover them, see locate.ts) and the loader's cache; anything else it needs is a read grant.
  if (found.files.length > 0) {
    for (const folder of [...libraryFolders(), LOADER_CACHE]) {
      const chain = resolveChain(folder);
      if (chain && !placeOf(chain.visited, chain.real)) add(chain);
    }
  }
  return found;
}
