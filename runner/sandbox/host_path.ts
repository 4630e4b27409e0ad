/**
 * Programs on the host's PATH, found as the host runs them: `sh`, `bwrap`,
 * `setpriv`, `prlimit`, `ldd`, `bash`, `mkdir`, Deno, a command plugin's
 * interpreter. Every PATH folder is code (path_programs.ts), so no write
 * grant reaches what is found here.
 * @module
 */

import { isAbsolute, join } from "node:path";
import { rethrowHostPermission } from "./exec.ts";

/**
 * `name` in the first absolute folder of `path` (the host's PATH) that
 * holds an executable file of that name. A relative folder is skipped:
 * looked in from the host's working folder, its program was then run from a
 * plugin's, its snapshot (Deno and dash resolve a relative program in the
 * child's working folder): `PATH=rel:…` ran the plugin's own `rel/sh` as
 * the host at its first start (review 125).
 *
 * @example
 * ```ts ignore
 * onHostPath("bwrap"); // "/usr/bin/bwrap", or undefined
 * ```
 */
export function onHostPath(
  name: string,
  path: string = Deno.env.get("PATH") ?? "/usr/bin:/bin",
): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111)) return candidate;
    } catch (error) {
      rethrowHostPermission(error); // not here
    }
  }
  return undefined;
}
