/**
 * What zod's failed check of a schema that holds itself, or nests deeper
 * than {@linkcode FREE_DEPTH}, costs beyond the value's size. Some issues do
 * not stop the check, `abortEarly` or not: a record's every entry, and a
 * check's issue (`.min()`, a format, a key a strict object does not know)
 * in an array. Each is carried up through every container above it, its
 * path lengthened at each (zod's `unshift`) and, the schema holding itself,
 * copied whole and kept at each (zod's memoizer), so a value's issues cost
 * about their number times their depth, in time and in heap, whichever way
 * the value is laid out. Review 135: a tree of `{ name, tags:
 * z.array(z.string().min(1)), children: z.array(Node) }`, 30 nodes deep
 * with 120,000 empty tags at the bottom (361 KB of a result), held the
 * host's thread 9 s and took its heap to 3.7 GiB, near its limit; 20,000
 * (61 KB, a progress report's size), 1.1 s.
 * @module
 */

import { children, defOf, MAX_WALKED, oncePerSchema } from "./schema_walk.ts";

/**
 * How deep a value's members and elements may lie for nothing: honest trees
 * go this deep (a node's object and its children's array are two levels
 * each), and there a failed check's issues number no more than zod can
 * spread into one call (about 125,000; past them it overruns the stack, and
 * the value is refused: review 81), which cost the host's thread 1.3 s and
 * some 700 MiB (review 135).
 */
export const FREE_DEPTH: number = 16;

/**
 * The most a value's members and elements past {@linkcode FREE_DEPTH} may
 * count, each as its depth past it: 2^20, at which a failed check cost the
 * host's thread 0.8 to 1.7 s (review 135: a trie 40 keys deep with 41,931
 * at its bottom, 0.8 s; a tree 10 nodes deep with 125,000 empty tags at its
 * bottom, 1.7 s). An honest tree of 37,449 nodes 5 deep counts nothing; a
 * binary one 13 deep (16,383 nodes), 905,472, and one deeper is refused.
 */
export const MAX_ISSUE_DEPTH_COST: number = 2 ** 20;

/** The kinds of schema that lengthen an issue's path: each is one level of the value. */
const CONTAINERS = new Set<unknown>(["object", "array", "record", "tuple", "map", "set"]);

/**
 * Whether `schema` may carry a value's issues deeper than {@linkcode FREE_DEPTH}: it holds itself
 * (directly or through others, a union among them), or it nests containers deeper than that.
 * Review 139: a union handed on the issues of the one option that did not stop at the value's
 * type (zod's own), so a tree of `z.union([z.string(), z.object({ tags, children })])` carried
 * every issue up as the plain tree did (120,000 empty tags 30 nodes down, 361 KB: 23.5 s and
 * 3.3 GiB of the host's); and a schema written out 30 levels deep, holding nothing of itself,
 * carried them up as far (9 s). One that cannot be walked (more than `MAX_WALKED` schemas, a
 * getter that throws) counts as one that does. Once per schema.
 */
export function carriesIssuesAround(schema: unknown): boolean {
  return defOf(schema) !== undefined && reachesDeepOnce(schema as object);
}

const reachesDeepOnce = oncePerSchema(reachesDeep);

/**
 * A depth-first walk from `root`: true at a schema met again on the way down to it, or at a
 * schema whose containers nest deeper than {@linkcode FREE_DEPTH}.
 */
function reachesDeep(root: object): boolean {
  const onPath = new Set<object>();
  /** Each schema left, with the most containers nested in it (itself included). */
  const depths = new Map<object, number>();
  const path: { parts: unknown[]; next: number; schema: object; deepest: number }[] = [];
  const enter = (schema: object) => {
    onPath.add(schema);
    path.push({ schema, parts: children(schema, defOf(schema)!), next: 0, deepest: 0 });
  };
  try {
    enter(root);
    while (path.length > 0) {
      if (onPath.size + depths.size > MAX_WALKED) return true;
      const top = path[path.length - 1];
      if (top.next === top.parts.length) {
        path.pop();
        onPath.delete(top.schema);
        const depth = top.deepest + (CONTAINERS.has(defOf(top.schema)!.type) ? 1 : 0);
        if (depth > FREE_DEPTH) return true;
        depths.set(top.schema, depth);
        const parent = path[path.length - 1];
        if (parent) parent.deepest = Math.max(parent.deepest, depth);
        continue;
      }
      const child = top.parts[top.next++];
      if (!defOf(child)) continue;
      if (onPath.has(child as object)) return true;
      const known = depths.get(child as object);
      if (known === undefined) enter(child as object);
      else top.deepest = Math.max(top.deepest, known);
    }
  } catch {
    return true;
  }
  return false;
}

/**
 * Whether `value`'s members and elements deeper than {@linkcode FREE_DEPTH},
 * each counted as its depth past it, come to more than `max`. Stops as soon
 * as it has counted past it.
 */
export function overIssueDepthCost(value: unknown, max = MAX_ISSUE_DEPTH_COST): boolean {
  let cost = 0;
  const open: [unknown, number][] = [[value, 1]];
  while (open.length > 0) {
    const [next, depth] = open.pop()!;
    const weight = Math.max(0, depth - FREE_DEPTH);
    if (Array.isArray(next)) {
      cost += next.length * weight;
      for (const item of next) {
        if (typeof item === "object" && item !== null) open.push([item, depth + 1]);
      }
    } else {
      for (const key in next as object) {
        cost += weight;
        const item = (next as Record<string, unknown>)[key];
        if (typeof item === "object" && item !== null) open.push([item, depth + 1]);
      }
    }
    if (cost > max) return true;
  }
  return false;
}

/**
 * Whether `value` is too costly for `schema` to check: a schema that may
 * carry issues that deep ({@linkcode carriesIssuesAround}), and a value past
 * {@linkcode MAX_ISSUE_DEPTH_COST}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { tooCostlyToFail } from "./issue_cost.ts";
 * type Node = { tags: string[]; children: Node[] };
 * const Node: z.ZodType<Node> = z.object({
 *   tags: z.array(z.string().min(1)),
 *   children: z.array(z.lazy(() => Node)),
 * });
 * let deep: Node = { tags: Array(40_000).fill(""), children: [] };
 * for (let i = 0; i < 30; i++) deep = { tags: [], children: [deep] };
 * assert.ok(tooCostlyToFail(Node, deep));
 * assert.ok(!tooCostlyToFail(z.array(z.array(z.string().min(1))), [Array(40_000).fill("")]));
 * ```
 */
export function tooCostlyToFail(schema: unknown, value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  return carriesIssuesAround(schema) && overIssueDepthCost(value);
}
