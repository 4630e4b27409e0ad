/**
 * What zod's check of an intersection costs beyond the value's size: it
 * merges the two sides' results object by object, looking each key of one
 * up in a list of the other's, so an object of `k` keys that both sides keep
 * (records, loose objects, catchalls) costs `k²`, again under every
 * intersection that holds it (review 109: an id and 80,000 string fields,
 * 1.1 MB, held the host's thread 3 s; 16 MiB, some ten minutes).
 * @module
 */

import { defOf, findSchema } from "./schema_walk.ts";

/**
 * The most a value's merges may cost, in units of about a key looked up
 * (half a nanosecond each): 2^26, some 35 ms of a thread, about one object
 * of 8,000 keys at the top of the value.
 */
export const MAX_MERGE_COST: number = 2 ** 26;

/** Each schema whether an intersection lies anywhere within it. */
const holds = new WeakMap<object, boolean>();

/**
 * Whether an intersection lies anywhere in `schema`: a walk of its defs,
 * once per schema. One that cannot be walked (a getter that throws, a lazy
 * schema that makes new ones without end) is taken to hold one.
 */
export function holdsIntersection(schema: unknown): boolean {
  if (!defOf(schema)) return false;
  const root = schema as object;
  let found = holds.get(root);
  if (found === undefined) {
    found = findSchema(root, (def) => def.type === "intersection") !== undefined;
    holds.set(root, found);
  }
  return found;
}

/**
 * Whether merging `value`'s objects and arrays may cost more than
 * `MAX_MERGE_COST`: each object its keys squared, each array its length,
 * times one plus the containers above it (each may be an intersection that
 * merges it again). Stops as soon as it has counted past the cap.
 */
export function overMergeCost(value: unknown, max = MAX_MERGE_COST): boolean {
  let cost = 0;
  const open: [unknown, number][] = [[value, 1]];
  while (open.length > 0) {
    const [next, depth] = open.pop()!;
    if (Array.isArray(next)) {
      cost += (next.length + 1) * depth;
      for (const item of next) {
        if (typeof item === "object" && item !== null) open.push([item, depth + 1]);
      }
    } else {
      let keys = 0;
      for (const key in next as object) {
        keys++;
        const item = (next as Record<string, unknown>)[key];
        if (typeof item === "object" && item !== null) open.push([item, depth + 1]);
      }
      cost += (keys * keys + 1) * depth;
    }
    if (cost > max) return true;
  }
  return false;
}

/**
 * Whether `value` is too costly for `schema` to check: an intersection within
 * it, and merges past `MAX_MERGE_COST`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { tooCostlyToMerge } from "./intersection_cost.ts";
 * const both = z.record(z.string(), z.string()).and(z.looseObject({ id: z.string() }));
 * const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, "v"]));
 * assert.ok(tooCostlyToMerge(both, wide));
 * assert.ok(!tooCostlyToMerge(z.record(z.string(), z.string()), wide));
 * ```
 */
export function tooCostlyToMerge(schema: unknown, value: unknown): boolean {
  return typeof value === "object" && value !== null && holdsIntersection(schema) &&
    overMergeCost(value);
}
