/**
 * The programs a run grant names and the libraries an ffi grant names, in an
 * OS layer's view. Deno's `--allow-run` and `--allow-ffi` let the plugin
 * start or load them; the sandbox must also hold them: bubblewrap's root
 * holds only what is mounted, and Landlock's ruleset reads and executes only
 * what it names. So each is mounted (or named) with its shared libraries, and
 * runs inside the plugin's sandbox, not beside it.
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

/**
 * The programs a run grant names and the libraries an ffi grant names, for
 * the OS and Landlock layers (the Deno layer runs them on the host itself),
 * where they exist. Refused: one inside the plugin's folder or a write grant,
 * which the plugin could replace, and whose libraries the host would read
 * with `ldd`, which may run a program's own loader.
 *
 * @example
 * ```ts ignore
 * grantedBinaries("hello", "/plugins/hello", grants); // { programs: ["/usr/bin/git"], links: [] }
 * ```
 */
export function grantedBinaries(
  plugin: string,
  root: string,
  grants: Pick<ResolvedGrants, "run" | "ffi" | "write">,
): GrantedBinaries {
  const found: GrantedBinaries = { programs: [], links: [] };
  for (const [kind, paths] of [["run", grants.run], ["ffi", grants.ffi]] as const) {
    for (const granted of paths) {
      let real: string;
      try {
        real = Deno.realPathSync(granted);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue; // nothing to load, as without a sandbox
        throw error;
      }
      const near = [root, ...grants.write].find((dir) => isWithin(real, dir));
      if (near !== undefined) {
        const what = kind === "run" ? "program" : "library";
        throw new PreflightError({
          plugin,
          reason: `${kind}-writable`,
          path: real,
          detail: neutralize(
            `${kind} grant "${neutralize(granted, 300)}" is ${
              near === root ? "inside the plugin's folder" : `inside write grant "${near}"`
            }: under an OS layer a granted ${what} is loaded in the sandbox with its libraries, read from the host with ldd, so it must be one the plugin cannot replace; grant one outside both, or use isolation "deno"`,
            2000,
          ),
        });
      }
      if (!found.programs.includes(real)) found.programs.push(real);
      if (granted !== real && !found.links.includes(granted)) found.links.push(granted);
    }
  }
  return found;
}
