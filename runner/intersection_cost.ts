/**
 * What zod's check of an intersection costs beyond the value's size: it
 * merges the two sides' results object by object, looking each key of one
 * up in a list of the other's, so an object of `k` keys that both sides keep
 * (records, loose objects, catchalls) costs `k²`, again under every
 * intersection that holds it (review 109: an id and 80,000 string fields,
 * 1.1 MB, held the host's thread 3 s; 16 MiB, some ten minutes).
 * @module
 */

import { defOf, findSchema, oncePerSchema, type SchemaDef } from "./schema_walk.ts";

/**
 * The most a value's merges may cost, in units of about a key looked up
 * (half a nanosecond each): 2^26, some 35 ms of a thread, about one object
 * of 8,000 keys at the top of the value.
 */
export const MAX_MERGE_COST: number = 2 ** 26;

/** Most intersections counted merging one object in turn; a schema past them counts as this. */
const MAX_MERGES = 64;

/** Schemas that check a value at the level they are given it, as the schema inside them does. */
const SAME_LEVEL = new Set(["optional", "nullable", "default", "prefault", "catch", "readonly"]);

/**
 * How many intersections merge one object in turn, at most, anywhere in
 * `schema`: 0 without one, 2 for `a.and(b).and(c)`, whose merges each cost
 * the object's keys squared (review 112: eight chained, 8,000 keys, 381 ms
 * where one was 46). One that cannot be walked (a getter that throws, a lazy
 * schema that makes new ones without end) counts as {@linkcode MAX_MERGES}.
 * Once per schema.
 */
export function mergesInTurn(schema: unknown): number {
  return defOf(schema) ? mergesOnce(schema as object) : 0;
}

const mergesOnce = oncePerSchema((root) => {
  let most = 0;
  const walked = findSchema(root, (def) => {
    if (def.type === "intersection") most = Math.max(most, inTurn(def, 0));
    return false;
  });
  return walked === undefined ? Math.min(most, MAX_MERGES) : MAX_MERGES;
});

/** The intersections `def` and those at its level within it make in turn. */
function inTurn(def: SchemaDef | undefined, depth: number): number {
  if (!def || depth >= MAX_MERGES) return depth >= MAX_MERGES ? MAX_MERGES : 0;
  if (def.type === "intersection") {
    return 1 + Math.max(inTurn(defOf(def.left), depth + 1), inTurn(defOf(def.right), depth + 1));
  }
  if (def.type === "pipe") return inTurn(defOf(def.in), depth);
  return SAME_LEVEL.has(def.type as string) ? inTurn(defOf(def.innerType), depth) : 0;
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
 * it, and merges past `MAX_MERGE_COST`, each counted as often as
 * intersections merge one object in turn ({@linkcode mergesInTurn}).
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
  if (typeof value !== "object" || value === null) return false;
  const times = mergesInTurn(schema);
  return times > 0 && overMergeCost(value, MAX_MERGE_COST / times);
}
