/**
 * Deno checks a path against a grant before following links in it, so a
 * symbolic link inside a granted folder reaches wherever it points. Under
 * the Deno layer alone, plugbox therefore refuses a grant whose folder holds
 * a link leading outside what the same grant kind covers. (Under the OS
 * layer the target is simply not mounted.)
 * @module
 */

import { dirname, isAbsolute, join, normalize } from "node:path";
import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { canonicalLoose, isWithin } from "./paths.ts";
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
    } catch (error) {
      // Unreadable for the host: Deno will not read it for the plugin either, unless the plugin
      // may write it, and so make it readable again (chmod) with a link inside (review 81).
      if (kind === "write" && error instanceof Deno.errors.PermissionDenied) {
        throw new PreflightError({
          plugin,
          reason: "grant-link",
          path: dir,
          detail: neutralize(
            `${kind} grant "${top}" holds "${
              neutralize(dir, 300)
            }", which the host cannot list to check for links and the plugin may make readable; make it readable or grant a folder apart from it`,
            2000,
          ),
        });
      }
      continue;
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
      const target = kind === "write" ? leadsOutOnceChanged(path, allowed) : leadsTo(path);
      if (target !== undefined && !allowed.some((root) => isWithin(target, root))) {
        throw new PreflightError({
          plugin,
          reason: "grant-link",
          path,
          detail: neutralize(
            `${kind} grant "${top}" holds link "${neutralize(path, 300)}" to "${
              neutralize(target, 300)
            }"${
              kind === "write" ? " (now, or once the plugin makes a folder or moves it)" : ""
            }, outside what is granted`,
            2000,
          ),
        });
      }
    }
  }
}

/** Where a link leads now; undefined for a loop, or a link gone meanwhile. */
function leadsTo(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    // dangling, a loop, or gone
  }
  try {
    // Dangling: where it leads once what is missing is made, as a plugin that may write can.
    return canonicalLoose(Deno.readLinkSync(path), dirname(path));
  } catch {
    return undefined;
  }
}

/**
 * Where a link in a write grant leads, now or once the plugin has changed
 * what it may: a missing folder made (a dangling link), or the link moved
 * (a rename) to another folder of the grant, where each `..` of a relative
 * target climbs from another place: from as high as the top of a grant, it
 * climbs out. The first place outside `allowed` it can lead, else where it
 * leads now (review 81).
 */
function leadsOutOnceChanged(path: string, allowed: readonly string[]): string | undefined {
  const now = leadsTo(path);
  let target: string;
  try {
    target = Deno.readLinkSync(path);
  } catch {
    return now;
  }
  if (isAbsolute(target)) return now;
  const words = normalize(target).split("/");
  const ups = words.findIndex((word) => word !== "..");
  const climbs = ups === -1 ? words.length : ups;
  const rest = words.slice(climbs).join("/");
  for (const root of allowed) {
    let from = root;
    for (let up = 1; up <= climbs && from !== "/"; up++) {
      from = dirname(from);
      const moved = canonicalLoose(rest, from);
      if (!allowed.some((r) => isWithin(moved, r))) return moved;
    }
  }
  return now;
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
