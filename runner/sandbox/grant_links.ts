/**
 * Deno checks a path against a grant before following links in it, so a
 * symbolic link inside a granted folder reaches wherever it points. Under
 * the Deno layer alone, plugbox therefore refuses a grant whose folder holds
 * a link leading outside what the same grant kind covers. (Under the OS
 * layer the target is simply not mounted.)
 * @module
 */

import { dirname, isAbsolute, join, resolve } from "node:path";
import { PreflightError } from "../errors.ts";
import { neutralize } from "../wire/mod.ts";
import { absolutePath, canonicalLoose, type Chain, isWithin, resolveChain } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";

/** Most entries walked per grant before the check gives up and refuses. */
export const MAX_GRANT_ENTRIES = 20_000;

/** Takes `cost` entries from the budget; refuses the grant once it is spent. */
function spend(
  plugin: string,
  kind: string,
  top: string,
  budget: { left: number },
  cost: number,
): void {
  budget.left -= cost;
  if (budget.left >= 0) return;
  throw new PreflightError({
    plugin,
    reason: "grant-too-large",
    path: top,
    detail:
      `${kind} grant "${top}" holds more than ${MAX_GRANT_ENTRIES} entries (a link counted by its target's length), too many to check for links; narrow it or use isolation "os"`,
  });
}

/** True when names in folder `dir` may be opened (its search bit lets this process through). */
function searchable(dir: string): boolean {
  try {
    Deno.statSync(`${dir}/.`); // resolving "." in it takes the search right
    return true;
  } catch {
    return false;
  }
}

function walk(
  plugin: string,
  kind: string,
  top: string,
  allowed: string[],
  writable: readonly string[],
  budget: { left: number },
  through: Set<string>,
): void {
  // Every refusal names the grant and what in it the plugin could redirect, neutralised.
  const refuse = (path: string, what: string): never => {
    throw new PreflightError({
      plugin,
      reason: "grant-link",
      path,
      detail: neutralize(`${kind} grant "${top}" holds ${what}`, 2000),
    });
  };
  const stack = [top];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: Iterable<Deno.DirEntry>;
    try {
      // Read lazily: a folder of a million names is refused at the budget, not listed first.
      entries = Deno.readDirSync(dir);
    } catch (error) {
      // Unlistable for the host: the plugin, the host's user too, lists it no more; but it opens
      // a name in it when it may search it (review 88: a link in a folder of mode 0111 led out),
      // or when it may write it, and so make it readable again (chmod) with a link inside
      // (review 81).
      if (
        error instanceof Deno.errors.PermissionDenied && (kind === "write" || searchable(dir))
      ) {
        refuse(
          dir,
          `"${
            neutralize(dir, 300)
          }", which the host cannot list to check for links and the plugin may ${
            kind === "write" ? "make readable" : "open names in"
          }; make it readable or grant a folder apart from it`,
        );
      }
      continue;
    }
    for (const entry of entries) {
      spend(plugin, kind, top, budget, 1);
      const path = join(dir, entry.name);
      if (entry.isDirectory) stack.push(path);
      if (!entry.isSymlink) continue;
      // Its target read once, for every judgement below.
      let spelled: string;
      try {
        spelled = Deno.readLinkSync(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue; // gone meanwhile
        // Listed but not read (a folder of mode 0444: the host may list it, not search it): a
        // plugin that may write it makes it searchable (chmod), and follows the link.
        return refuse(path, `link "${neutralize(path, 300)}", which the host cannot read to check`);
      }
      // Judged name by name, a link costs as its target is long: 20,000 links of 4 KB targets held
      // the host's thread for two minutes (review 83); each 256 bytes counts as one more entry.
      spend(plugin, kind, top, budget, Math.floor(spelled.length / 256));
      // The plugin may move it, and the folders about it.
      const movable = writable.some((root) => isWithin(path, root));
      const link = `link "${neutralize(path, 300)}"`;
      const real = realOf(path); // looked up once, for both judgements below
      const climb = climbsWhereMovable(path, spelled, real, {
        movable,
        writable,
        through,
        spend: (cost) => spend(plugin, kind, top, budget, cost),
      });
      if (climb !== undefined) {
        refuse(
          path,
          `${link} to "${
            neutralize(climb, 300)
          }", which climbs with ".." where the plugin may move folders and links (a write grant; in its target, or a link's on its way), or out of a link that leads nowhere yet, so it can be made to lead anywhere above; make the link absolute, or grant a folder apart from it`,
        );
      }
      const moved = movable ? leadsOutFromTops(path, spelled, allowed, writable) : undefined;
      if (moved !== undefined) {
        refuse(
          path,
          `${link}, which the plugin may move in place of write grant "${
            neutralize(moved.top, 300)
          }" (from where it leads to "${
            neutralize(moved.target, 300)
          }", outside what is granted); make the link absolute, or grant a folder apart from it`,
        );
      }
      const target = leadsTo(path, spelled, real);
      if (target !== undefined && !allowed.some((root) => isWithin(target, root))) {
        refuse(
          path,
          `${link} to "${neutralize(target, 300)}"${
            kind === "write" ? " (now, or once the plugin makes the folders it misses)" : ""
          }, outside what is granted`,
        );
      }
    }
  }
}

/** Where link `path` leads now; undefined when dangling, a loop, or gone. */
function realOf(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Where link `path` (target `spelled`, leading to `real` now if it leads
 * anywhere) leads now, or once the folders it misses are made; undefined
 * for a loop.
 */
function leadsTo(path: string, spelled: string, real: string | undefined): string | undefined {
  if (real !== undefined) return real;
  try {
    // Dangling: where it leads once what is missing is made, as a plugin that may write can.
    return canonicalLoose(spelled, dirname(path));
  } catch {
    return undefined;
  }
}

/**
 * The target of a link whose `..` the plugin can make climb from elsewhere,
 * else undefined. A plugin with a write grant cannot make links, but it can
 * move the ones there and remove or make folders. So a `..` climbs from
 * wherever it puts things: a link in a write grant that climbs at all can be
 * moved up to its top and out (review 81), and a `..` after a folder in a
 * write grant climbs from wherever a link moved in its place leads (review
 * 83). Judged by where they lead now, such links would pass; they are
 * refused by their spelling instead, and by the targets of the links on
 * their way. A way with no `..` only descends from where it is, or leads
 * where an absolute target says, which is judged.
 */
function climbsWhereMovable(
  path: string,
  target: string,
  real: string | undefined,
  { movable, writable, through, spend }: {
    movable: boolean;
    writable: readonly string[];
    through: Set<string>;
    spend: (cost: number) => void;
  },
): string | undefined {
  const climbs = target.split("/").includes("..");
  if (climbs && movable) return target;
  // Whoever may move the link moves its climb: another plugin's write grant must not cover it.
  if (climbs && !isAbsolute(target)) through.add(path);
  // Every name on the way up to its last "..", in the spelling and in the targets of the links on
  // the way: who may move one moves where a climb starts. One walk, as long as the way, judges
  // every ".." (review 93). A link with no ".." of its own may lead through one that climbs (a
  // host's link outside every grant: review 96). A way that does not resolve (a loop, a name
  // missing before a "..") climbs from wherever it comes to lead: a link to a folder the plugin
  // may make led out (review 93).
  // Where it leads as its target spells: no link lies on its way (a real path holds none), so no
  // ".." of one climbs; one lookup by the kernel, not one a name.
  if (!climbs && real === resolve(dirname(path), target)) return undefined;
  let chain: Chain | undefined;
  try {
    chain = resolveChain(absolutePath(target, dirname(path)), { partial: true });
  } catch {
    return target;
  }
  if (chain === undefined || chain.missing?.includes("..")) return target;
  // The way costs as the targets on it are long, as a link's own does: 32 links to one chain of
  // 39 links of 4 KB targets, each 1 entry, held the host's thread 1.7 s (review 97). And as the
  // names looked up are long past 128 bytes, an eighth as much: the kernel walks each from the
  // root, so a way down a folder 2,000 deep and back ("d/d/.../d/..", 4 KB) took 170 ms for 16
  // entries, 165 s a grant (review 98). A shorter name is a lookup as a walked entry is.
  const targets = chain.links.reduce((sum, link) => sum + link.target.length, 0);
  const names = chain.visited.reduce((sum, name) => sum + Math.max(0, name.length - 128), 0);
  spend(Math.floor((targets + names / 8) / 256));
  const way = chain.visited.slice(0, chain.climbs);
  if (way.some((name) => writable.some((root) => isWithin(name, root)))) return target;
  for (const name of way) through.add(name);
  return undefined;
}

/**
 * Where a relative link the plugin may move (it lies in a write grant; its
 * target `spelled`) leads once moved in place of a write grant's own top, if that is outside
 * `allowed`. The plugin may remove or rename a top (its folder above is not
 * the grant's, but Deno judges the name) and put the link there, so a
 * relative target then starts from the folder above the top (review 86). A
 * top is reachable so when another write grant can hold the link meanwhile,
 * or when it is not the grant the link lies in.
 */
function leadsOutFromTops(
  path: string,
  spelled: string,
  allowed: readonly string[],
  writable: readonly string[],
): { top: string; target: string } | undefined {
  if (isAbsolute(spelled)) return undefined;
  for (const top of writable) {
    if (writable.length === 1 && isWithin(path, top)) continue;
    let target: string;
    try {
      target = canonicalLoose(spelled, dirname(top));
    } catch {
      continue;
    }
    if (!allowed.some((root) => isWithin(target, root))) return { top, target };
  }
  return undefined;
}

/**
 * Refuses read and write grants whose folders hold links that lead outside
 * the grants of the same kind. Returns the paths the judgement took as no
 * plugin's to move: the names the links' `..` climb through, and the
 * relative links that climb. A write grant over one, given to another start
 * in this process, would move the climb (review 93): `admitLaunch` refuses it.
 *
 * @throws {PreflightError} naming the link and its target.
 */
export function checkGrantLinks(plugin: string, grants: ResolvedGrants): string[] {
  const through = new Set<string>();
  for (const kind of ["read", "write"] as const) {
    const roots = grants[kind];
    for (const top of roots) {
      const info = Deno.statSync(top);
      if (info.isDirectory) {
        walk(plugin, kind, top, roots, grants.write, { left: MAX_GRANT_ENTRIES }, through);
      }
    }
  }
  return [...through].sort();
}
