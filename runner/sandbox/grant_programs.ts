/**
 * The programs a run grant names, in an OS layer's view. Deno's `--allow-run`
 * lets the plugin start them; the sandbox must also hold them: bubblewrap's
 * root holds only what is mounted, and Landlock's ruleset executes only what
 * it names. So each is mounted (or made executable) with its shared
 * libraries, and runs inside the plugin's sandbox, not beside it.
 * @module
 */

import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { isWithin } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";

/**
 * The real paths of the programs `grants.run` names that exist, for the OS
 * and Landlock layers (the Deno layer runs them on the host itself).
 * Refused: a program inside the plugin's folder or a write grant, which the
 * plugin could replace, and whose libraries the host would read with `ldd`,
 * which may run a program's own loader.
 *
 * @example
 * ```ts ignore
 * const programs = grantedPrograms("hello", "/plugins/hello", grants); // ["/usr/bin/git"]
 * ```
 */
export function grantedPrograms(
  plugin: string,
  root: string,
  grants: Pick<ResolvedGrants, "run" | "write">,
): string[] {
  const programs: string[] = [];
  for (const granted of grants.run) {
    let real: string;
    try {
      real = Deno.realPathSync(granted);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // nothing to run, as without a sandbox
      throw error;
    }
    const near = [root, ...grants.write].find((dir) => isWithin(real, dir));
    if (near !== undefined) {
      throw new PreflightError({
        plugin,
        reason: "run-writable",
        path: real,
        detail: neutralize(
          `run grant "${neutralize(granted, 300)}" is ${
            near === root ? "inside the plugin's folder" : `inside write grant "${near}"`
          }: under an OS layer a granted program runs in the sandbox with its libraries, read from the host with ldd, so it must be one the plugin cannot replace; grant a program outside both, or use isolation "deno"`,
          2000,
        ),
      });
    }
    if (!programs.includes(real)) programs.push(real);
  }
  return programs;
}
