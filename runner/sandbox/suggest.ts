/**
 * "Did you mean" for a mistyped name: the closest of the known names, when
 * it is close enough to be a typo.
 * @module
 */

/** Edit distance between two short names, a swap of neighbours counting once (inputs cut at 64). */
function distance(a: string, b: string): number {
  a = a.slice(0, 64).toLowerCase();
  b = b.slice(0, 64).toLowerCase();
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name closest to `name`, when at most a third of it differs (at
 * least one edit): a typo, not another word.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closestName } from "./suggest.ts";
 *
 * assert.equal(closestName("permission", ["description", "permissions"]), "permissions");
 * assert.equal(closestName("raed", ["read", "write"]), "read");
 * assert.equal(closestName("colour", ["read", "write"]), undefined);
 * ```
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const allowed = Math.max(1, Math.floor(Math.min(name.length, 64) / 3));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(name: string, known: readonly string[]): string {
  const found = closestName(name, known);
  return found ? ` (did you mean "${found}"?)` : "";
}
