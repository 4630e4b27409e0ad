/**
 * A walk of a zod schema's parts, for what plugbox must know of a user's
 * schema before a plugin's value meets it: whether zod's check of some part
 * costs more than the value's size (intersection_cost.ts, issue_cost.ts,
 * contract.ts).
 * @module
 */

/** A zod schema's definition, as far as a walk reads it. */
export interface SchemaDef {
  type?: unknown;
  [part: string]: unknown;
}

/** The schemas a schema's def leads to, by zod's names for them. */
const PARTS = [
  "shape",
  "catchall",
  "element",
  "items",
  "rest",
  "keyType",
  "valueType",
  "options",
  "innerType",
  "in",
  "out",
  "input",
  "output",
  "left",
  "right",
  "parts",
];

/** Schemas a walk visits at most: past them, a schema is taken to hold what is looked for. */
export const MAX_WALKED = 10_000;

/**
 * `judge`, made once per schema and kept while the schema lives: what a walk finds in a schema
 * does not change, and values of it are checked again and again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { oncePerSchema } from "./schema_walk.ts";
 * let walks = 0;
 * const judged = oncePerSchema(() => ++walks);
 * const schema = z.string();
 * assert.deepEqual([judged(schema), judged(schema)], [1, 1]);
 * ```
 */
export function oncePerSchema<T>(judge: (schema: object) => T): (schema: object) => T {
  const judged = new WeakMap<object, T>();
  return (schema) => {
    if (judged.has(schema)) return judged.get(schema)!;
    const found = judge(schema);
    judged.set(schema, found);
    return found;
  };
}

/** `schema`'s definition; undefined for anything that is no zod schema. */
export function defOf(schema: unknown): SchemaDef | undefined {
  const def = (schema as { _zod?: { def?: unknown } } | null)?._zod?.def;
  return typeof def === "object" && def !== null ? def as SchemaDef : undefined;
}

/** The schemas directly within `schema`: its def's parts, a lazy schema's target (zod's own, kept). */
export function children(schema: object, def: SchemaDef): unknown[] {
  const found: unknown[] = [];
  if (def.type === "lazy") found.push((schema as { _zod: { innerType?: unknown } })._zod.innerType);
  for (const name of PARTS) {
    const part = def[name];
    if (Array.isArray(part)) found.push(...part);
    else if (defOf(part)) found.push(part);
    else if (name === "shape" && typeof part === "object" && part !== null) {
      found.push(...Object.values(part));
    }
  }
  return found;
}

/**
 * The first schema within `schema` (itself included) that `test` holds for;
 * `schema` itself where the walk cannot finish (past {@linkcode MAX_WALKED}
 * schemas, a getter that throws): what cannot be looked at is taken to be
 * what was looked for. Undefined where none is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "npm:zod@^4.1.0";
 * import { findSchema } from "./schema_walk.ts";
 * const inner = z.string().and(z.string());
 * assert.equal(findSchema(z.object({ a: z.array(inner) }), (def) => def.type === "intersection"), inner);
 * ```
 */
export function findSchema(
  schema: unknown,
  test: (def: SchemaDef, schema: object) => boolean,
): object | undefined {
  const root = defOf(schema) && schema as object;
  if (!root) return undefined;
  const seen = new Set<object>([root]);
  const open: object[] = [root];
  try {
    while (open.length > 0) {
      const next = open.pop()!;
      const def = defOf(next)!;
      if (test(def, next)) return next;
      if (seen.size > MAX_WALKED) return root;
      for (const child of children(next, def)) {
        if (defOf(child) && !seen.has(child as object)) {
          seen.add(child as object);
          open.push(child as object);
        }
      }
    }
  } catch {
    return root;
  }
  return undefined;
}
