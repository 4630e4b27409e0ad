/**
 * `defineContract` and the type mapping both sides derive from it: the host's
 * typed API (`ContractApi`) and the plugin's implementation (`ContractImpl`).
 * @module
 */

import { z } from "npm:zod@^4.1.0";

/**
 * A method schema: `z.function({ input: [...], output })`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { MethodSchema } from "./contract.ts";
 *
 * const add: MethodSchema = z.function({ input: [z.number(), z.number()], output: z.number() });
 * ```
 */
export type MethodSchema = z.ZodFunction;

/**
 * The methods of a contract, by name.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { MethodSchemas } from "./contract.ts";
 *
 * const methods: MethodSchemas = {
 *   sayHello: z.function({ input: [z.string()], output: z.string() }),
 *   countWords: z.function({ input: [z.string()], output: z.number().int() }),
 * };
 * ```
 */
export type MethodSchemas = Record<string, MethodSchema>;

/**
 * What {@linkcode defineContract} takes.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { type ContractDefinition, defineContract } from "./contract.ts";
 *
 * const methods = { sayHello: z.function({ input: [z.string()], output: z.string() }) };
 * const definition: ContractDefinition<"greeter", typeof methods> = {
 *   name: "greeter",
 *   version: 1,
 *   methods,
 * };
 * const Greeter = defineContract(definition);
 * ```
 */
export interface ContractDefinition<N extends string, M extends MethodSchemas> {
  /** The contract's name: a letter, then letters, digits, `_` or `-` (at most 64). */
  name: N;
  /** A positive integer; host and plugin must agree on it. */
  version: number;
  /** Each method as `z.function({ input: [...args], output })`. */
  methods: M;
}

/**
 * A validated contract, shared by host and plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { type Contract, defineContract } from "./contract.ts";
 *
 * const label = (contract: Contract): string => `${contract.name}@${contract.version}`;
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * assert.equal(label(Greeter), "greeter@1");
 * ```
 */
export interface Contract<N extends string = string, M extends MethodSchemas = MethodSchemas> {
  /** The contract's name. */
  readonly name: N;
  /** The contract's version. */
  readonly version: number;
  /** The method schemas. */
  readonly methods: Readonly<M>;
}

/**
 * What an implementation receives after its arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CallContext } from "./contract.ts";
 *
 * const echo = (text: string, { signal }: CallContext): string => {
 *   signal.throwIfAborted(); // the host cancelled the call, or its deadline passed
 *   return text;
 * };
 * assert.equal(echo("hi", { signal: new AbortController().signal }), "hi");
 * ```
 */
export interface CallContext {
  /** Aborted when the host cancels the call (or its deadline passes). */
  signal: AbortSignal;
}

// Structural on purpose: zod's own generics would make zod's internal types
// part of this package's documented API.

/**
 * The argument tuple schema of a method schema.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { ArgsOf, SchemaOutput } from "./contract.ts";
 *
 * const add = z.function({ input: [z.number(), z.number()], output: z.number() });
 * const args: SchemaOutput<ArgsOf<typeof add>> = [1, 2];
 * ```
 */
export type ArgsOf<F> = F extends { _zod: { def: { input: infer I } } } ? I : never;
/**
 * The result schema of a method schema.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { ReturnsOf, SchemaOutput } from "./contract.ts";
 *
 * const add = z.function({ input: [z.number(), z.number()], output: z.number() });
 * const sum: SchemaOutput<ReturnsOf<typeof add>> = 3;
 * ```
 */
export type ReturnsOf<F> = F extends { _zod: { def: { output: infer O } } } ? O : never;
/**
 * What a schema accepts (zod's `z.input`).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { SchemaInput } from "./contract.ts";
 *
 * const Length = z.string().transform((text) => text.length);
 * const accepted: SchemaInput<typeof Length> = "hello";
 * ```
 */
export type SchemaInput<S> = S extends { _zod: { input: infer I } } ? I : unknown;
/**
 * What a schema produces (zod's `z.output`).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { SchemaOutput } from "./contract.ts";
 *
 * const Length = z.string().transform((text) => text.length);
 * const produced: SchemaOutput<typeof Length> = 5;
 * ```
 */
export type SchemaOutput<S> = S extends { _zod: { output: infer O } } ? O : unknown;

/**
 * Arguments as the host passes them (schema input).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { HostArgs } from "./contract.ts";
 *
 * const search = z.function({
 *   input: [z.string(), z.number().int().default(10)],
 *   output: z.array(z.string()),
 * });
 * const args: HostArgs<typeof search> = ["deno"]; // the limit may be left out
 * ```
 */
export type HostArgs<F> = SchemaInput<ArgsOf<F>> extends infer A extends unknown[] ? A : never;
/**
 * The result as the host receives it (schema output).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { HostResult } from "./contract.ts";
 *
 * const list = z.function({
 *   input: [],
 *   output: z.object({ items: z.array(z.string()).default([]) }),
 * });
 * const received: HostResult<typeof list> = { items: [] }; // the host always gets `items`
 * ```
 */
export type HostResult<F> = SchemaOutput<ReturnsOf<F>>;
/**
 * Arguments as the implementation receives them (schema output).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { ImplArgs } from "./contract.ts";
 *
 * const search = z.function({
 *   input: [z.string(), z.number().int().default(10)],
 *   output: z.array(z.string()),
 * });
 * const args: ImplArgs<typeof search> = ["deno", 10]; // the default is filled in
 * ```
 */
export type ImplArgs<F> = SchemaOutput<ArgsOf<F>> extends infer A extends unknown[] ? A : never;
/**
 * What the implementation may return (schema input).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { ImplResult } from "./contract.ts";
 *
 * const list = z.function({
 *   input: [],
 *   output: z.object({ items: z.array(z.string()).default([]) }),
 * });
 * const returned: ImplResult<typeof list> = {}; // the plugin may leave `items` out
 * ```
 */
export type ImplResult<F> = SchemaInput<ReturnsOf<F>>;

/**
 * The host's typed API for a contract: one async function per method.
 * A plain object, so `await api` cannot hang.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { type ContractApi, defineContract } from "./contract.ts";
 *
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * // What `plugin.api(Greeter)` returns; here a stand-in, as a test would use.
 * const greeter: ContractApi<typeof Greeter> = {
 *   sayHello: (name) => Promise.resolve(`hello, ${name}`),
 * };
 * assert.equal(await greeter.sayHello("a"), "hello, a");
 * ```
 */
export type ContractApi<C extends Contract> = {
  readonly [K in keyof C["methods"] & string]: (
    ...args: HostArgs<C["methods"][K]>
  ) => Promise<HostResult<C["methods"][K]>>;
};

/**
 * The plugin's implementation of a contract, sync or async, each method
 * receiving its validated arguments and then a {@linkcode CallContext}.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { type ContractImpl, defineContract } from "./contract.ts";
 *
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const methods: ContractImpl<typeof Greeter> = {
 *   sayHello: (name, { signal }) => {
 *     signal.throwIfAborted();
 *     return `hello, ${name}`;
 *   },
 * };
 * ```
 */
export type ContractImpl<C extends Contract> = {
  [K in keyof C["methods"] & string]: (
    ...args: [...ImplArgs<C["methods"][K]>, CallContext]
  ) => ImplResult<C["methods"][K]> | Promise<ImplResult<C["methods"][K]>>;
};

const CONTRACT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// A method named "then" would make the API object a thenable, and `await api` would hang.
const RESERVED_METHODS = new Set(["then", "__proto__", "constructor"]);

/** Compiled view of one method, computed once per contract. */
export interface MethodInfo {
  /** The tuple schema of the arguments. */
  input: z.ZodType;
  /** The result schema. */
  output: z.ZodType;
  /** How many arguments the tuple lists (the context goes after them). */
  arity: number;
}

const compiled = new WeakMap<Contract, Map<string, MethodInfo>>();

function fail(what: string, detail: string): never {
  throw new TypeError(`Cannot define contract${what}: ${detail}`);
}

function compileMethod(contract: string, name: string, schema: unknown): MethodInfo {
  const where = ` "${contract}"`;
  if (!METHOD_NAME.test(name) || RESERVED_METHODS.has(name)) {
    fail(where, `method name "${name}" must be an identifier of at most 64 characters, not "then"`);
  }
  if (!(schema instanceof z.ZodFunction)) {
    fail(where, `method "${name}" must be a z.function({ input, output }) schema`);
  }
  const { input, output } = schema._zod.def as unknown as {
    input?: z.ZodType;
    output?: z.ZodType;
  };
  const tuple = input?._zod.def as { type?: string; items?: unknown[]; rest?: unknown } | undefined;
  if (tuple?.type !== "tuple" || tuple.rest) {
    fail(where, `method "${name}" needs "input" as an array of schemas (a tuple without rest)`);
  }
  if (!output) fail(where, `method "${name}" needs an "output" schema`);
  return { input: input!, output, arity: tuple.items!.length };
}

/**
 * Defines a contract: the one place a plugin interface is written. Both the
 * host (typed, validated calls) and the plugin (a type-checked
 * implementation) derive everything from it.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract } from "./contract.ts";
 *
 * export const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * ```
 * @throws {TypeError} naming the field when the definition is malformed.
 */
export function defineContract<const N extends string, const M extends MethodSchemas>(
  definition: ContractDefinition<N, M>,
): Contract<N, M> {
  if (typeof definition !== "object" || definition === null) {
    fail("", "the definition must be an object");
  }
  const { name, version, methods } = definition;
  if (typeof name !== "string" || !CONTRACT_NAME.test(name)) {
    fail(
      "",
      `"name" must be a letter then letters, digits, "_" or "-", got ${JSON.stringify(name)}`,
    );
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    fail(` "${name}"`, `"version" must be a positive integer, got ${JSON.stringify(version)}`);
  }
  if (typeof methods !== "object" || methods === null || Object.keys(methods).length === 0) {
    fail(` "${name}"`, `"methods" must be an object with at least one method`);
  }
  const infos = new Map<string, MethodInfo>();
  for (const [method, schema] of Object.entries(methods)) {
    infos.set(method, compileMethod(name, method, schema));
  }
  const contract: Contract<N, M> = Object.freeze({
    name,
    version,
    methods: Object.freeze({ ...methods }),
  });
  compiled.set(contract, infos);
  return contract;
}

/**
 * The compiled methods of a contract. A contract made by another copy of
 * this module (two versions of the package in one graph) is checked and
 * compiled here on first use.
 * @throws {TypeError} when `contract` is not a valid contract.
 */
export function methodsOf(contract: Contract): Map<string, MethodInfo> {
  let infos = compiled.get(contract);
  if (!infos) {
    defineContract(contract as ContractDefinition<string, MethodSchemas>);
    infos = new Map(
      Object.entries(contract.methods).map(([m, s]) => [m, compileMethod(contract.name, m, s)]),
    );
    compiled.set(contract, infos);
  }
  return infos;
}
