/**
 * A quick yes for the simplest schemas, before zod: every call validates its
 * arguments and its result, and for a contract of plain strings, numbers and
 * booleans zod's machinery (a payload, an issues list, a result object, a
 * copied tuple) is most of what a call allocates. A quick check says only
 * "valid, and zod would return the value as it is"; anything it does not
 * know, any check, any coercion, and every failure go to zod, which stays
 * the one judge of what is wrong and how to say it.
 *
 * Zod's own type names and classes are read from its schemas (`_zod.def`,
 * `_zod.traits`); a schema that does not show them is simply not known.
 * @module
 */

/**
 * A predicate that is true only where zod's `safeParse` succeeds with data
 * equal to the value (the value itself; for a tuple, a copy of it).
 */
export type QuickCheck = (value: unknown) => boolean;

/** The parts of a zod v4 schema a quick check reads; anything else makes it say "not known". */
interface ZodInternals {
  _zod?: {
    def?: {
      type?: unknown;
      checks?: unknown[];
      coerce?: unknown;
      items?: unknown[];
      rest?: unknown;
    };
    traits?: Set<string>;
    run?: unknown;
    parse?: unknown;
    constr?: { prototype: unknown };
  };
}

const isString: QuickCheck = (value) => typeof value === "string";
const isNumber: QuickCheck = (value) => typeof value === "number" && Number.isFinite(value);
const isBoolean: QuickCheck = (value) => typeof value === "boolean";
const isNull: QuickCheck = (value) => value === null;
const isUndefined: QuickCheck = (value) => value === undefined;

/** Each type a quick check knows, by zod's `def.type`: zod's name for it (its classes are named after it). */
const KNOWN: Record<string, string> = {
  string: "String",
  number: "Number",
  boolean: "Boolean",
  null: "Null",
  undefined: "Undefined",
  void: "Void",
  tuple: "Tuple",
};

/** The predicate of each plain kind (a tuple's is built from its items'). */
const CHECKS: Record<string, QuickCheck> = {
  string: isString,
  number: isNumber,
  boolean: isBoolean,
  null: isNull,
  undefined: isUndefined,
  void: isUndefined,
};

/**
 * The traits (class names) a schema of zod's own kind `name` may show, in
 * zod's core, classic and mini builds. Any other name is a type made
 * elsewhere (with zod's `$constructor`, say), which may parse its own way.
 */
function zodTraits(name: string): Set<string> {
  const traits = ["$ZodType", "ZodType", "ZodMiniType", `$Zod${name}`, `Zod${name}`];
  traits.push(`ZodMini${name}`, ...(name === "String" ? ["_ZodString"] : []));
  return new Set(traits);
}

/**
 * The quick check of `schema`, or `undefined` when it is not one of the
 * plain kinds: a string, number, boolean, null, undefined or void schema
 * with no checks and no coercion, or a tuple of those with no rest. Formats
 * (`z.email()`), refinements, transforms, defaults and optionals are not
 * plain: zod judges them every time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { quickCheck } from "./quick_check.ts";
 * const check = quickCheck(z.tuple([z.string(), z.number()]))!;
 * assert.ok(check(["a", 1]));
 * assert.ok(!check(["a", Infinity])); // zod refuses it too, and says why
 * assert.equal(quickCheck(z.string().min(1)), undefined); // a check: zod's to judge
 * ```
 */
export function quickCheck(schema: unknown): QuickCheck | undefined {
  const zod = (schema as ZodInternals | null)?._zod;
  const def = zod?.def;
  const traits = zod?.traits;
  if (!def || !(traits instanceof Set) || typeof def.type !== "string") return undefined;
  // Zod's own class, not a subclass (or an instance) with a `safeParse` of its own to honour.
  if (
    Object.getPrototypeOf(schema) !== zod.constr?.prototype || Object.hasOwn(schema!, "safeParse")
  ) {
    return undefined;
  }
  // Checks run in `run` around `parse`; with none, zod makes them the same function.
  if (traits.has("$ZodCheck") || (def.checks?.length ?? 0) > 0 || zod.run !== zod.parse) {
    return undefined;
  }
  if (def.coerce) return undefined;
  const name = Object.hasOwn(KNOWN, def.type) ? KNOWN[def.type] : undefined;
  if (!name || !traits.has(`$Zod${name}`)) return undefined;
  const own = zodTraits(name);
  for (const trait of traits) if (!own.has(trait)) return undefined;
  return def.type === "tuple" ? tupleCheck(def.items, def.rest) : CHECKS[def.type];
}

function tupleCheck(items: unknown[] | undefined, rest: unknown): QuickCheck | undefined {
  if (rest || !Array.isArray(items)) return undefined;
  const checks: QuickCheck[] = [];
  for (const item of items) {
    const check = quickCheck(item);
    if (!check) return undefined;
    checks.push(check);
  }
  const length = checks.length;
  return (value) => {
    if (!Array.isArray(value) || value.length !== length) return false;
    for (let i = 0; i < length; i++) if (!checks[i](value[i])) return false;
    return true;
  };
}
