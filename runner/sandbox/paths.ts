/**
 * One canonical path, computed once: every path plugbox compares, shows or
 * passes (grants, code roots, Deno's dir, the cache, manifest requests, the
 * entry) is made absolute and real here, and everything else uses that
 * value. Two spellings of one folder (a symlinked install, a `..` inside a
 * request) can then never be judged apart.
 * @module
 */

import { existsSync } from "node:fs";
import { isAbsolute, join, sep } from "node:path";

/**
 * True when `inner` is `outer` or lies below it, compared by whole path
 * segments (`/data` does not contain `/data2`). Both must be canonical.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWithin } from "./paths.ts";
 * assert.ok(isWithin("/data/x", "/data") && !isWithin("/data2", "/data"));
 * ```
 */
export function isWithin(inner: string, outer: string): boolean {
  if (inner === outer) return true;
  return inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/**
 * Absolute, as spelled: relative paths are put below `cwd` without
 * resolving `..` by hand, so the kernel (which follows a link before its
 * `..`) decides what the path means.
 */
export function absolutePath(path: string, cwd: string = Deno.cwd()): string {
  return isAbsolute(path) ? path : `${trimSeparator(cwd)}/${path}`;
}

/**
 * The canonical form of an existing path: absolute, every link resolved.
 *
 * @throws {Deno.errors.NotFound} when it does not exist.
 */
export function canonicalPath(path: string, cwd?: string): string {
  return Deno.realPathSync(absolutePath(path, cwd));
}

/**
 * The canonical form of a path that may not exist yet: the real path of
 * its longest existing ancestor, with the rest appended. A folder created
 * later at that place gets exactly this path, unless someone puts a link
 * there first (so callers re-check when it must exist).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalLoose } from "./paths.ts";
 * assert.equal(canonicalLoose("/no/such/../folder"), "/no/folder");
 * assert.equal(canonicalLoose("/"), "/");
 * ```
 */
export function canonicalLoose(path: string, cwd?: string): string {
  const parts = absolutePath(path, cwd).split("/").filter(Boolean);
  // A prefix the kernel cannot resolve has no existing extension, so the longest existing one is
  // found by halving: a few lookups, not one per name (review 83: a grant of 20,000 dangling links
  // of 2,000 names each held the host's thread for two minutes).
  const at = (count: number) => `/${parts.slice(0, count).join("/")}`;
  let low = 0; // "/" exists
  let high = parts.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (existsSync(at(middle))) low = middle;
    else high = middle - 1;
  }
  const current = at(low);
  const rest = parts.slice(low);
  let real = current;
  try {
    real = Deno.realPathSync(current);
  } catch {
    // unreadable on the way: keep the spelling, which is absolute and normalised
  }
  return rest.length ? join(real, ...rest) : real;
}

/**
 * An absolute path without repeated or trailing slashes or `.` names,
 * which name the same file to the kernel and to Deno's permission checks.
 * `..` is kept: the kernel climbs out of where a link leads, Deno out of
 * its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tidySpelling } from "./paths.ts";
 * assert.equal(tidySpelling("/usr//bin/./ls/"), "/usr/bin/ls");
 * assert.equal(tidySpelling("/usr/lib/../bin/ls"), "/usr/lib/../bin/ls");
 * ```
 */
export function tidySpelling(path: string): string {
  return `/${path.split("/").filter((name) => name !== "" && name !== ".").join("/")}`;
}

/** The path with a trailing separator removed (the root stays `/`). */
export function trimSeparator(path: string): string {
  return path.replace(/\/+$/, "") || "/";
}

/** A spelling resolved one component at a time: everything walked through, and where it ends. */
export interface Chain {
  /** Every path walked through, folders and links alike (`..` included: it leaves a folder). */
  visited: string[];
  links: { path: string; target: string }[];
  real: string;
  /**
   * How many of `visited` were walked before the last `..` that left a
   * folder (0: it climbs out of none): who may move one of them moves where
   * that `..` climbs from.
   */
  climbs: number;
  /** With `partial`, the names left from the first missing one on (their `..` included). */
  missing?: string[];
}

/** Options of {@linkcode resolveChain}. */
export interface ResolveChainOptions {
  /**
   * At a missing name, return the way walked so far and the rest in
   * `missing`, not undefined.
   * @default false
   */
  partial?: boolean;
}

/**
 * Resolves an absolute `path` as the kernel would, recording every folder
 * and link on the way (in the spelling and in the links' own targets).
 * Undefined if it leads nowhere; throws on a loop (more than 40 links).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveChain } from "./paths.ts";
 * assert.equal(resolveChain("/tmp/./")?.real, Deno.realPathSync("/tmp"));
 * ```
 */
export function resolveChain(
  path: string,
  options: ResolveChainOptions = {},
): Chain | undefined {
  const chain: Chain = { visited: [], links: [], real: "", climbs: 0 };
  const pending = path.split("/").filter(Boolean);
  let current = ""; // always a real path: each component added is no link
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      if (current) chain.climbs = chain.visited.length;
      current = current.slice(0, current.lastIndexOf("/"));
      continue;
    }
    const next = `${current}/${part}`;
    chain.visited.push(next);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(next);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      if (!options.partial) return undefined;
      chain.missing = [part, ...pending];
      return chain;
    }
    if (!info.isSymlink) {
      current = next;
      continue;
    }
    if (chain.links.length >= 40) throw new Error(`too many links in "${path}"`);
    const target = Deno.readLinkSync(next);
    chain.links.push({ path: next, target });
    if (target.startsWith("/")) current = "";
    pending.unshift(...target.split("/").filter(Boolean));
  }
  chain.real = current || "/";
  return chain;
}

/**
 * The paths not strictly inside one of `writes`. A bind or a Landlock rule
 * is opened by its path, following links; one inside a folder the plugin
 * may write can be swapped for a link between the check and the mount
 * (review 44), while the write grant's own bind or rule already covers it,
 * and a link there then resolves in the sandbox's view.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outsideWrites } from "./paths.ts";
 * assert.deepEqual(outsideWrites(["/w/in", "/w", "/r"], ["/w"]), ["/w", "/r"]);
 * ```
 */
export function outsideWrites(paths: readonly string[], writes: readonly string[]): string[] {
  return paths.filter((path) => enclosing(path, writes) === undefined);
}

/**
 * The first of `folders` that `path` lies strictly inside (not the folder
 * itself), if any. All canonical.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { enclosing } from "./paths.ts";
 * assert.equal(enclosing("/w/in", ["/r", "/w"]), "/w");
 * assert.equal(enclosing("/w", ["/w"]), undefined);
 * ```
 */
export function enclosing(path: string, folders: readonly string[]): string | undefined {
  return folders.find((folder) => path !== folder && isWithin(path, folder));
}
