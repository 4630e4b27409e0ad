/**
 * Deno checks a path against a grant before following links in it, so a
 * symbolic link inside a granted folder reaches wherever it points. Under
 * the Deno layer alone, plugbox therefore refuses a grant whose folder holds
 * a link leading outside what the same grant kind covers. (Under the OS
 * layer the target is simply not mounted.)
 * @module
 */

import { join } from "node:path";
import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { isWithin } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";

/** Most entries walked per grant before the check gives up and refuses. */
export const MAX_GRANT_ENTRIES = 20_000;

function walk(
  plugin: string,
  kind: string,
  top: string,
  allowed: string[],
  budget: { left: number },
): void {
  const stack = [top];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: Iterable<Deno.DirEntry>;
    try {
      // Read lazily: a folder of a million names is refused at the budget, not listed first.
      entries = Deno.readDirSync(dir);
    } catch {
      continue; // unreadable for the host: Deno will not read it for the plugin either
    }
    for (const entry of entries) {
      if (--budget.left < 0) {
        throw new PreflightError({
          plugin,
          reason: "grant-too-large",
          path: top,
          detail:
            `${kind} grant "${top}" holds more than ${MAX_GRANT_ENTRIES} entries, too many to check for links; narrow it or use isolation "os"`,
        });
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory) stack.push(path);
      if (!entry.isSymlink) continue;
      let target: string;
      try {
        target = Deno.realPathSync(path);
      } catch {
        continue; // dangling: leads nowhere
      }
      if (!allowed.some((root) => isWithin(target, root))) {
        throw new PreflightError({
          plugin,
          reason: "grant-link",
          path,
          detail: neutralize(
            `${kind} grant "${top}" holds link "${neutralize(path, 300)}" to "${
              neutralize(target, 300)
            }", outside what is granted`,
            2000,
          ),
        });
      }
    }
  }
}

/**
 * Refuses read and write grants whose folders hold links that lead outside
 * the grants of the same kind.
 *
 * @throws {PreflightError} naming the link and its target.
 */
export function checkGrantLinks(plugin: string, grants: ResolvedGrants): void {
  for (const kind of ["read", "write"] as const) {
    const roots = grants[kind];
    for (const top of roots) {
      const info = Deno.statSync(top);
      if (info.isDirectory) walk(plugin, kind, top, roots, { left: MAX_GRANT_ENTRIES });
    }
  }
}
