/**
 * What zod's failed check of a schema that holds itself costs beyond the
 * value's size. Some issues do not stop the check, `abortEarly` or not: a
 * record's every entry, and a check's issue (`.min()`, a format, a key a
 * strict object does not know) in an array. Each is carried up through
 * every container above it, its path lengthened at each (zod's `unshift`)
 * and, the schema holding itself, copied whole and kept at each (zod's
 * memoizer), so a value's issues cost about their number times their depth,
 * in time and in heap, whichever way the value is laid out. Review 135: a
 * tree of `{ name, tags: z.array(z.string().min(1)), children:
 * z.array(Node) }`, 30 nodes deep with 120,000 empty tags at the bottom (361
 * KB of a result), held the host's thread 9 s and took its heap to 3.7 GiB,
 * near its limit; 20,000 (61 KB, a progress report's size), 1.1 s.
 * @module
 */

import { children, defOf, MAX_WALKED, type SchemaDef } from "./schema_walk.ts";

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

/** Each schema's {@linkcode carriesIssuesAround}. */
const carries = new WeakMap<object, boolean>();

/** A union that reports its options' failures as one issue, whatever their number (zod's own). */
function collapses(def: SchemaDef): boolean {
  return def.type === "union" && def.discriminator === undefined &&
    Array.isArray(def.options) && def.options.length > 1;
}

/**
 * Whether `schema` holds itself (directly or through others) other than
 * through a union that collapses its options' issues into one: a loop
 * through which a value's issues may be carried, many, as deep as the value
 * goes. One that cannot be walked (more than `MAX_WALKED` schemas, a getter
 * that throws) counts as one that does. Once per schema.
 */
export function carriesIssuesAround(schema: unknown): boolean {
  if (!defOf(schema)) return false;
  const root = schema as object;
  let found = carries.get(root);
  if (found === undefined) {
    found = loops(root);
    carries.set(root, found);
  }
  return found;
}

/** A depth-first walk from `root`: true at a schema met again on the way down to it. */
function loops(root: object): boolean {
  const onPath = new Set<object>();
  const done = new Set<object>();
  const path: { parts: unknown[]; next: number; schema: object }[] = [];
  const enter = (schema: object) => {
    const def = defOf(schema)!;
    onPath.add(schema);
    path.push({ schema, parts: collapses(def) ? [] : children(schema, def), next: 0 });
  };
  try {
    enter(root);
    while (path.length > 0) {
      if (onPath.size + done.size > MAX_WALKED) return true;
      const top = path[path.length - 1];
      if (top.next === top.parts.length) {
        path.pop();
        onPath.delete(top.schema);
        done.add(top.schema);
        continue;
      }
      const child = top.parts[top.next++];
      if (!defOf(child)) continue;
      if (onPath.has(child as object)) return true;
      if (!done.has(child as object)) enter(child as object);
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
 * Whether `value` is too costly for `schema` to check: a schema that carries
 * issues around a loop ({@linkcode carriesIssuesAround}), and a value past
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
