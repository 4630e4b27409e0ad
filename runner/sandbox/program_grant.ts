/**
 * A run grant's one form. Deno's `--allow-run` matches a program by its
 * path's name, `..` taken out by name; the kernel runs what the path leads
 * to, `..` climbing out of where a link leads. So the form plugbox passes,
 * compares and shows is the spelling tidied of what both read alike, and a
 * spelling the two read apart is refused.
 * @module
 */

import { normalize } from "node:path";
import { onHostPath } from "./host_path.ts";
import { absolutePath, tidySpelling } from "./paths.ts";

function refuse(detail: string): never {
  throw new TypeError(`Cannot grant run ${detail}`);
}

/**
 * A run grant's one form: absolute, without repeated or trailing slashes
 * or `.` names (paths.ts `tidySpelling`). As spelled, `/usr//bin/ls` and
 * `/usr/bin/ls` were two grants of one program, and a manifest or lock that
 * named one refused the other (review 137). Refused: a bare name, which was
 * put below the host's working folder (granting `./git` to a host that
 * meant the `git` on its PATH); and a `..` out of a link, which let the
 * plugin run, by Deno's reading, a program the kernel's reading of the
 * grant never named.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { programPath } from "./program_grant.ts";
 * assert.equal(programPath("/usr//bin/./ls/", "/"), "/usr/bin/ls");
 * ```
 */
export function programPath(spelled: string, cwd: string): string {
  if (!spelled.includes("/")) {
    let found: string | undefined;
    try {
      found = onHostPath(spelled);
    } catch {
      // a host that may not look in its PATH folders: the refusal says less
    }
    refuse(
      `"${spelled}": a program is granted by its path, not its name${
        found === undefined ? "" : ` (the host's PATH finds "${found}")`
      }`,
    );
  }
  const path = tidySpelling(absolutePath(spelled, cwd));
  if (!path.split("/").includes("..")) return path;
  const byName = normalize(path);
  const [kernel, deno] = [realOf(path), realOf(byName)];
  if (kernel !== deno) {
    refuse(
      `"${spelled}": its ".." climbs out of a link, so Deno would also let the plugin run "${byName}" (${
        deno === undefined ? "nothing there now" : `"${deno}"`
      }), where the system runs ${
        kernel === undefined ? "nothing now" : `"${kernel}"`
      }; name the program without ".."`,
    );
  }
  return path;
}

/** Where `path` leads now; undefined when it leads nowhere. */
function realOf(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}
