import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract } from "../contract.ts";
import { quickCheck } from "../runner/quick_check.ts";
import { createApi } from "../runner/host/proxy.ts";
import { ValidationError } from "../runner/errors.ts";
import { implement } from "../plugin.ts";
import { Dispatcher } from "../runner/plugin/dispatch.ts";

/** Values that sit on every edge a plain schema has: each JSON kind, and the numbers JSON cannot carry. */
const EDGES: unknown[] = [
  "",
  "a",
  "\u2028",
  0,
  -0,
  1.5,
  -1e308,
  Number.MAX_VALUE,
  NaN,
  Infinity,
  -Infinity,
  true,
  false,
  null,
  undefined,
  [],
  {},
  { length: 1, 0: "a" },
  new String("a"),
  new Number(1),
  1n,
  Symbol("s"),
  () => "a",
  new Date(0),
];

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** A random value: an edge, or an array of them (tuples' lengths and items). */
function randomValue(next: () => number, depth = 0): unknown {
  if (depth < 2 && next() < 0.4) {
    return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  }
  return EDGES[Math.floor(next() * EDGES.length)];
}

/** Each plain kind, with one value it takes (random values rarely make a nested tuple). */
const PLAIN: Record<string, [z.ZodType, unknown]> = {
  string: [z.string(), "a"],
  number: [z.number(), -0],
  boolean: [z.boolean(), false],
  null: [z.null(), null],
  undefined: [z.undefined(), undefined],
  void: [z.void(), undefined],
  "described string": [z.string().describe("a name"), ""],
  "branded number": [z.number().brand("Cents"), 1],
  "tuple of two": [z.tuple([z.string(), z.number()]), ["a", 1]],
  "empty tuple": [z.tuple([]), []],
  "tuple of tuples": [z.tuple([z.tuple([z.boolean()]), z.null()]), [[true], null]],
  "function input": [
    z.function({ input: [z.string(), z.boolean()], output: z.void() })._zod.def.input as z.ZodType,
    ["a", true],
  ],
};

const NOT_PLAIN: Record<string, z.ZodType> = {
  "string with a check": z.string().min(1),
  "string format": z.email(),
  "trimmed string": z.string().trim(),
  "integer format": z.int(),
  "number with a check": z.number().positive(),
  "coerced string": z.coerce.string(),
  "coerced number": z.coerce.number(),
  refined: z.string().refine((s) => s !== "a"),
  transformed: z.string().transform((s) => s.length),
  "with a default": z.string().default("x"),
  optional: z.string().optional(),
  nullable: z.string().nullable(),
  literal: z.literal("a"),
  enum: z.enum(["a"]),
  object: z.object({ a: z.string() }),
  array: z.array(z.string()),
  any: z.any(),
  nan: z.nan(),
  "tuple with rest": z.tuple([z.string()], z.number()),
  "tuple with an optional": z.tuple([z.string(), z.number().optional()]),
  "tuple with a check inside": z.tuple([z.string().max(3)]),
  "tuple with a check of its own": z.tuple([z.string()]).refine(() => false),
  "a subclass with its own safeParse": new (class Lower extends z.ZodString {
    override safeParse(data: unknown) {
      return typeof data === "string" && data !== data.toLowerCase()
        ? z.never().safeParse(data)
        : super.safeParse(data);
    }
  })(z.string()._zod.def),
  "an instance with its own safeParse": Object.assign(z.string(), {
    safeParse: () => ({ success: false }),
  }) as unknown as z.ZodType,
  "a tuple of a subclass": z.tuple([new (class extends z.ZodString {})(z.string()._zod.def)]),
  "a type of its own, made as zod makes its types": (() => {
    // deno-lint-ignore no-explicit-any
    const Lower = z.core.$constructor("Lower", (inst: any, def: any) => {
      z.ZodString.init(inst, def);
      const parse = inst._zod.parse;
      // deno-lint-ignore no-explicit-any
      inst._zod.parse = (payload: any, context: any) => {
        parse(payload, context);
        if (typeof payload.value === "string" && payload.value !== payload.value.toLowerCase()) {
          payload.issues.push({ code: "custom", message: "lower case only", input: payload.value });
        }
        return payload;
      };
    });
    // deno-lint-ignore no-explicit-any
    return new (Lower as any)({ type: "string" }) as z.ZodType;
  })(),
};

Deno.test("quickCheck() says yes only where zod succeeds with the value itself, and knows every plain kind", () => {
  const next = seeded(20261205);
  for (const [name, [schema, valid]] of Object.entries(PLAIN)) {
    const check = quickCheck(schema);
    assert.ok(check, `${name} is plain`);
    const values = [valid, ...EDGES, ...Array.from({ length: 3000 }, () => randomValue(next))];
    let yes = 0;
    for (const value of values) {
      const parsed = schema.safeParse(value);
      // Sound: never a yes zod would refuse, nor one whose data differs; complete for plain kinds.
      assert.equal(check(value), parsed.success, `${name} on ${Deno.inspect(value)}`);
      if (parsed.success) {
        yes++;
        assert.deepEqual(parsed.data, value, name);
      }
    }
    assert.ok(yes > 0, `${name} saw a valid value`);
  }
});

Deno.test("quickCheck() leaves every schema with a check, a coercion, a wrapper or an unknown kind to zod", () => {
  for (const [name, schema] of Object.entries(NOT_PLAIN)) {
    assert.equal(quickCheck(schema), undefined, name);
  }
  for (const odd of [undefined, null, 1, {}, { _zod: {} }, { _zod: { def: { type: "string" } } }]) {
    assert.equal(quickCheck(odd), undefined);
  }
});

const Plain = defineContract({
  name: "plain",
  version: 1,
  methods: {
    half: z.function({ input: [z.number(), z.string()], output: z.number() }),
  },
});

Deno.test("a plain contract's quick path still refuses what zod refuses, with zod's words", async () => {
  let answer: unknown = 21;
  const api = createApi(Plain, { name: "p", call: () => Promise.resolve(answer) });
  assert.equal(await api.half(42, "x"), 21);
  await assert.rejects(
    () => api.half(Infinity, "x"),
    (error) =>
      error instanceof ValidationError && error.direction === "input" &&
      /number/i.test(error.issues[0].message) && error.issues[0].path[0] === 0,
  );
  answer = NaN;
  await assert.rejects(
    () => api.half(42, "x"),
    (error) => error instanceof ValidationError && error.direction === "output",
  );

  // The plugin's side: its arguments and its result pass the same way.
  const seen: unknown[][] = [];
  const dispatcher = new Dispatcher([
    implement(Plain, {
      half: (n: number, s: string) => {
        seen.push([n, s]);
        return s === "bad" ? Infinity : n / 2;
      },
    }),
  ]);
  const context = { id: 1, signal: new AbortController().signal };
  assert.equal(dispatcher.dispatch("plain.half", [42, "x"], context), 21);
  assert.deepEqual(seen, [[42, "x"]]);
  assert.throws(
    () => dispatcher.dispatch("plain.half", [42], context),
    /Invalid argument at \(root\): Too small/,
  );
  assert.throws(() => dispatcher.dispatch("plain.half", [42, "x", 1], context), /Invalid argument/);
  assert.throws(() => dispatcher.dispatch("plain.half", [1, "bad"], context), /invalid result/);
});
