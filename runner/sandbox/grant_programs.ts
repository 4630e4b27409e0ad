/**
 * The programs a run grant names and the libraries an ffi grant names, in an
 * OS layer's view. Deno's `--allow-run` and `--allow-ffi` let the plugin
 * start or load them; the sandbox must also hold them: bubblewrap's root
 * holds only what is mounted, and Landlock's ruleset reads and executes only
 * what it names. So each is mounted (or named) with its shared libraries, and
 * runs inside the plugin's sandbox, not beside it.
 *
 * What gets mounted is read from the host when the plan is made, and read
 * again when the sandbox is built (bubblewrap mirrors the spelling's links,
 * Landlock's launcher opens the path). So nothing along the way may be the
 * plugin's to change: a link the plugin can write would choose what the
 * sandbox shows it (any host folder, read-only) at its next start.
 * @module
 */

import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { isWithin } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";

/** What a run or ffi grant adds to an OS layer's view. */
export interface GrantedBinaries {
  /** Real paths: each is mounted with the shared libraries ldd lists for it. */
  programs: string[];
  /** The granted spellings that are links: their chains are mirrored, so the name works too. */
  links: string[];
}

/** Where the plugin can change what lies there: its folder, its write grants, its Deno dir. */
export interface PluginWritable {
  root: string;
  write: readonly string[];
  denoDir: string;
}

/** A spelling resolved one component at a time: every link met, and where it ends. */
interface Chain {
  links: string[];
  real: string;
}

/**
 * Resolves an absolute `path` as the kernel would, recording every link on
 * the way (in the spelling and in the links' own targets). Undefined if it
 * leads nowhere; throws on a loop (more than 40 links).
 */
function resolveChain(path: string): Chain | undefined {
  const links: string[] = [];
  const pending = path.split("/").filter(Boolean);
  let current = ""; // always a real path: each component added is no link
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      current = current.slice(0, current.lastIndexOf("/"));
      continue;
    }
    const next = `${current}/${part}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(next);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    if (!info.isSymlink) {
      current = next;
      continue;
    }
    if (links.length >= 40) throw new Error(`too many links in "${path}"`);
    links.push(next);
    const target = Deno.readLinkSync(next);
    if (target.startsWith("/")) current = "";
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return { links, real: current || "/" };
}

/**
 * The programs `grants.run` names and the libraries `grants.ffi` names, for
 * the OS and Landlock layers (the Deno layer runs them on the host itself),
 * where they exist. Refused: a grant whose target, or any link on the way to
 * it, lies where the plugin can change it ({@linkcode PluginWritable}); and a
 * target that is not a regular file (a folder would be mounted whole).
 *
 * @example
 * ```ts ignore
 * grantedBinaries("hello", grants, { root, write: grants.write, denoDir });
 * // { programs: ["/usr/bin/mawk"], links: ["/usr/bin/awk"] }
 * ```
 */
export function grantedBinaries(
  plugin: string,
  grants: Pick<ResolvedGrants, "run" | "ffi">,
  writable: PluginWritable,
): GrantedBinaries {
  const found: GrantedBinaries = { programs: [], links: [] };
  const places = [
    [writable.root, "inside the plugin's folder"],
    ...writable.write.map((dir) => [dir, `inside write grant "${neutralize(dir, 300)}"`]),
    [writable.denoDir, "inside the plugin's Deno dir"],
  ];
  for (const [kind, paths] of [["run", grants.run], ["ffi", grants.ffi]] as const) {
    const refuse = (granted: string, path: string, why: string): never => {
      throw new PreflightError({
        plugin,
        reason: `${kind}-grant`,
        path,
        detail: neutralize(
          `${kind} grant "${neutralize(granted, 300)}" ${why}: under an OS layer a granted ${
            kind === "run" ? "program" : "library"
          } is mounted in the sandbox as found on the host when it starts, so it must be a file, and neither it nor a link on the way to it may be where the plugin can change it; grant another path, or use isolation "deno"`,
          2000,
        ),
      });
    };
    for (const granted of paths) {
      const chain = resolveChain(granted);
      if (!chain) continue; // nothing to load, as without a sandbox
      for (const path of [...chain.links, chain.real]) {
        const place = places.find(([dir]) => isWithin(path, dir));
        if (place) {
          const what = path === chain.real ? "leads to a file" : `goes through link "${path}"`;
          refuse(granted, path, `${what} ${place[1]}`);
        }
      }
      if (!Deno.statSync(chain.real).isFile) {
        refuse(granted, chain.real, `leads to "${chain.real}", which is not a file`);
      }
      if (!found.programs.includes(chain.real)) found.programs.push(chain.real);
      if (chain.links.length > 0 && !found.links.includes(granted)) found.links.push(granted);
    }
  }
  return found;
}
