/**
 * One canonical path, computed once: every path plugbox compares, shows or
 * passes (grants, code roots, Deno's dir, the cache, manifest requests, the
 * entry) is made absolute and real here, and everything else uses that
 * value. Two spellings of one folder (a symlinked install, a `..` inside a
 * request) can then never be judged apart.
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, sep } from "node:path";

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
  const absolute = absolutePath(path, cwd);
  const rest: string[] = [];
  let current = absolute;
  while (!existsSync(current)) {
    const parent = dirname(current);
    if (parent === current) break;
    rest.unshift(current.slice(parent.length).replace(/^\/+/, ""));
    current = parent;
  }
  let real = current;
  try {
    real = Deno.realPathSync(current);
  } catch {
    // unreadable on the way: keep the spelling, which is absolute and normalised
  }
  return rest.length ? join(real, ...rest) : real;
}

/** The path with a trailing separator removed (the root stays `/`). */
export function trimSeparator(path: string): string {
  return path.replace(/\/+$/, "") || "/";
}
