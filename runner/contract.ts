/**
 * `defineContract` and the type mapping both sides derive from it: the host's
 * typed API (`ContractApi`) and the plugin's implementation (`ContractImpl`).
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import { type QuickCheck, quickCheck } from "./quick_check.ts";

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
 * Any zod schema (an argument, a result, an item, a progress report).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { AnySchema } from "./contract.ts";
 *
 * const done: AnySchema = z.object({ done: z.number() });
 * ```
 */
export type AnySchema = z.ZodType;

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
export interface ContractDefinition<
  N extends string,
  M extends MethodSchemas,
  K extends MethodSchemas = Record<never, MethodSchema>,
  P extends ProgressSchemas<M> = Record<never, AnySchema>,
> {
  /** The contract's name: a letter, then letters, digits, `_` or `-` (at most 64). */
  name: N;
  /** A positive integer; host and plugin must agree on it. */
  version: number;
  /**
   * Each method as `z.function({ input: [...args], output })`; a method whose
   * output is {@linkcode stream}`(item)` streams its results.
   */
  methods: M;
  /**
   * Methods the host implements and the plugin may call (`ctx.host` in a
   * handler), as `z.function({ input, output })`. The host passes their
   * implementations at start; the host validates what the plugin sends.
   */
  capabilities?: K;
  /** The schema of each method's progress reports (`ctx.progress(value)`), by method name. */
  progress?: P;
}

/**
 * Progress schemas by method name.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import type { ProgressSchemas } from "./contract.ts";
 *
 * const methods = { index: z.function({ input: [z.string()], output: z.number() }) };
 * const progress: ProgressSchemas<typeof methods> = { index: z.object({ done: z.number() }) };
 * ```
 */
export type ProgressSchemas<M extends MethodSchemas = MethodSchemas> = {
  [K in keyof M]?: AnySchema;
};

const STREAM_ITEM = "~plugboxStreamItem";

/**
 * The output schema of a streaming method, made by {@linkcode stream}: it
 * carries the schema of one item.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { stream, type StreamSchema } from "./contract.ts";
 *
 * const lines: StreamSchema<z.ZodString> = stream(z.string());
 * ```
 */
export type StreamSchema<I extends AnySchema = AnySchema> =
  & AnySchema
  & { readonly "~plugboxStreamItem": I };

/**
 * Declares a streamed output: `output: stream(z.string())`. The plugin
 * implements the method as an async generator; the host gets an
 * {@linkcode ItemStream} to `for await` over, each item validated on arrival,
 * with credit-based flow control (PROTOCOL.md, "Streams").
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, stream } from "./contract.ts";
 *
 * const Lines = defineContract({
 *   name: "lines",
 *   version: 1,
 *   methods: { read: z.function({ input: [z.string()], output: stream(z.string()) }) },
 * });
 * ```
 */
export function stream<I extends AnySchema>(item: I): StreamSchema<I> {
  if (!(item instanceof z.ZodType)) {
    throw new TypeError("Cannot declare a stream: its item must be a zod schema");
  }
  const schema = z.custom<AsyncIterable<z.output<I>>>(() => true);
  Object.defineProperty(schema, STREAM_ITEM, { value: item, enumerable: false });
  return schema as unknown as StreamSchema<I>;
}

/** The item schema of a {@linkcode stream} output, or undefined for a plain output. */
function streamItemOf(output: unknown): z.ZodType | undefined {
  const item = (output as Record<string, unknown> | undefined)?.[STREAM_ITEM];
  return item instanceof z.ZodType ? item : undefined;
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
export interface Contract<
  N extends string = string,
  M extends MethodSchemas = MethodSchemas,
  K extends MethodSchemas = MethodSchemas,
  P extends ProgressSchemas<M> = ProgressSchemas<M>,
> {
  /** The contract's name. */
  readonly name: N;
  /** The contract's version. */
  readonly version: number;
  /** The method schemas. */
  readonly methods: Readonly<M>;
  /** The host's capabilities the plugin may call (empty when none). */
  readonly capabilities: Readonly<K>;
  /** Progress schemas by method (empty when none). */
  readonly progress: Readonly<P>;
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
 * const context: CallContext = { signal: new AbortController().signal, host: {}, progress() {} };
 * assert.equal(echo("hi", context), "hi");
 * ```
 */
export interface CallContext<C extends Contract = Contract, K extends string = string> {
  /** Aborted when the host cancels the call (or its deadline passes). */
  signal: AbortSignal;
  /**
   * The host's capabilities, typed from the contract's `capabilities`. Each
   * call carries this call's `signal`: cancelling the call cancels the host's work.
   */
  host: HostApi<C>;
  /**
   * Reports progress to the host's `onProgress` (validated against the
   * contract's `progress` schema for this method, when it has one). Never
   * throws for a closed host; reports beyond the host's rate cap are dropped.
   */
  progress(value: ProgressInput<C, K>): void;
}

/**
 * What a handler may report as progress for method `K`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, type ProgressInput } from "./contract.ts";
 *
 * const Indexer = defineContract({
 *   name: "indexer",
 *   version: 1,
 *   methods: { index: z.function({ input: [], output: z.number() }) },
 *   progress: { index: z.object({ done: z.number() }) },
 * });
 * const report: ProgressInput<typeof Indexer, "index"> = { done: 3 };
 * ```
 */
export type ProgressInput<C extends Contract, K extends string> = K extends keyof C["progress"]
  ? SchemaInput<C["progress"][K]>
  : unknown;

/**
 * What the host's `onProgress` receives for method `K`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, type ProgressOutput } from "./contract.ts";
 *
 * const Indexer = defineContract({
 *   name: "indexer",
 *   version: 1,
 *   methods: { index: z.function({ input: [], output: z.number() }) },
 *   progress: { index: z.object({ done: z.number() }) },
 * });
 * const seen: ProgressOutput<typeof Indexer, "index"> = { done: 3 };
 * ```
 */
export type ProgressOutput<C extends Contract, K extends string> = K extends keyof C["progress"]
  ? SchemaOutput<C["progress"][K]>
  : unknown;

/**
 * The plugin's typed view of the host's capabilities: one async function per capability.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, type HostApi } from "./contract.ts";
 *
 * const Notes = defineContract({
 *   name: "notes",
 *   version: 1,
 *   methods: { count: z.function({ input: [], output: z.number() }) },
 *   capabilities: { load: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const host: HostApi<typeof Notes> = { load: (key) => Promise.resolve(`note ${key}`) };
 * ```
 */
export type HostApi<C extends Contract> = {
  readonly [K in keyof C["capabilities"] & string]: (
    ...args: HostArgs<C["capabilities"][K]>
  ) => Promise<HostResult<C["capabilities"][K]>>;
};

/**
 * What a capability's implementation on the host receives after its arguments.
 *
 * @example
 * ```ts
 * import type { CapabilityContext } from "./contract.ts";
 *
 * const load = (key: string, { signal, plugin }: CapabilityContext): string => {
 *   signal.throwIfAborted(); // the plugin's call was cancelled, or the plugin is gone
 *   return `${plugin}: ${key}`;
 * };
 * ```
 */
export interface CapabilityContext {
  /** Aborted when the plugin cancels the call, its originating call ends, or the plugin exits. */
  signal: AbortSignal;
  /** The name of the plugin calling. */
  plugin: string;
}

/**
 * The host's implementation of a contract's capabilities; each receives the
 * arguments the plugin sent (validated) and a {@linkcode CapabilityContext}.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { type CapabilityImpl, defineContract } from "./contract.ts";
 *
 * const Notes = defineContract({
 *   name: "notes",
 *   version: 1,
 *   methods: { count: z.function({ input: [], output: z.number() }) },
 *   capabilities: { load: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const capabilities: CapabilityImpl<typeof Notes> = { load: (key) => `note ${key}` };
 * ```
 */
export type CapabilityImpl<C extends Contract> = {
  // Method syntax on purpose, as in ContractImpl: parameters checked bivariantly.
  [K in keyof C["capabilities"] & string]: {
    method(
      ...args: [...ImplArgs<C["capabilities"][K]>, CapabilityContext]
    ): ImplResult<C["capabilities"][K]> | Promise<ImplResult<C["capabilities"][K]>>;
  }["method"];
};

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
 * const sayHello = (name: string) => Promise.resolve(`hello, ${name}`);
 * const greeter: ContractApi<typeof Greeter> = {
 *   sayHello: Object.assign(sayHello, { with: () => sayHello }),
 * };
 * assert.equal(await greeter.sayHello("a"), "hello, a");
 * assert.equal(await greeter.sayHello.with({ timeout: 500 })("b"), "hello, b");
 * ```
 */
export type ContractApi<C extends Contract> = {
  readonly [K in keyof C["methods"] & string]: ApiMethod<C, K>;
};

/**
 * One method of a {@linkcode ContractApi}: call it with the typed
 * arguments, or first give per-call options with `.with(options)`. A
 * streaming method returns an {@linkcode ItemStream} instead of a promise.
 *
 * @example
 * ```ts ignore
 * const greeter = plugin.api(Greeter);
 * await greeter.sayHello("a"); // the API object's options
 * await greeter.sayHello.with({ timeout: 500, signal })("a"); // this call's own
 * ```
 */
export type ApiMethod<C extends Contract, K extends keyof C["methods"] & string> =
  & ((...args: HostArgs<C["methods"][K]>) => ApiReturn<C["methods"][K]>)
  & {
    /** The same method with per-call options (they override the API object's). */
    with(
      options: MethodCallOptions<ProgressOutput<C, K>>,
    ): (...args: HostArgs<C["methods"][K]>) => ApiReturn<C["methods"][K]>;
  };

/**
 * What calling a method returns: a promise of its result, or for a
 * {@linkcode stream} output an {@linkcode ItemStream} of its items.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { type ApiReturn, stream } from "./contract.ts";
 *
 * const read = z.function({ input: [], output: stream(z.string()) });
 * type Lines = ApiReturn<typeof read>; // ItemStream<string>
 * ```
 */
export type ApiReturn<F> = ReturnsOf<F> extends { readonly "~plugboxStreamItem": infer I }
  ? ItemStream<SchemaOutput<I>>
  : Promise<HostResult<F>>;

/**
 * Options for one call, given with `api.method.with(options)`.
 *
 * @example
 * ```ts ignore
 * const done = await indexer.index.with({
 *   timeout: 5_000, // without progress for 5 s: TimeoutError
 *   resetTimeoutOnProgress: true,
 *   maxTotalTimeout: 60_000, // never longer than a minute in all
 *   onProgress: (p) => console.log(p),
 * })("./docs");
 * ```
 */
export interface MethodCallOptions<P = unknown> {
  /** Aborting rejects the call (or ends the stream) with `signal.reason` and cancels it in the plugin. */
  signal?: AbortSignal;
  /** Deadline in ms (for a stream, of the whole stream); defaults to the API object's. */
  timeout?: number;
  /** Receives each progress report, validated against the contract's progress schema. */
  onProgress?: (value: P) => void;
  /**
   * Each progress report restarts `timeout`, up to `maxTotalTimeout`.
   * @default {false}
   */
  resetTimeoutOnProgress?: boolean;
  /**
   * The hard deadline when `resetTimeoutOnProgress` is set, in ms.
   * @default {10 × timeout}
   */
  maxTotalTimeout?: number;
}

/**
 * The items of a streaming call, as they arrive: `for await` over it.
 * Breaking out of the loop (or `return()`, or `cancel()`) cancels the
 * plugin's generator; an error in the plugin ends the loop with that error.
 *
 * @example
 * ```ts ignore
 * for await (const line of api.read("./big.log")) {
 *   if (line.startsWith("ERROR")) break; // the plugin's generator is cancelled
 * }
 * ```
 */
export interface ItemStream<T> extends AsyncIterableIterator<T> {
  /** Ends the stream now and cancels it in the plugin. */
  cancel(reason?: unknown): void;
  /** Items arrived and not yet taken, and the bytes of their lines: at most one window. */
  readonly buffered: { items: number; bytes: number };
}

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
  // Method syntax on purpose: its parameters are checked bivariantly, so an
  // implementation of one contract is an implementation of `Contract`.
  [K in keyof C["methods"] & string]: {
    method(...args: [...ImplArgs<C["methods"][K]>, CallContext<C, K>]): ImplReturn<C["methods"][K]>;
  }["method"];
};

/**
 * What an implementation returns: its result (or a promise of it), or for
 * a {@linkcode stream} output an async iterable of items (an async generator).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { type ImplReturn, stream } from "./contract.ts";
 *
 * const count = z.function({ input: [z.number()], output: stream(z.number()) });
 * async function* upTo(n: number): AsyncGenerator<number> {
 *   for (let i = 1; i <= n; i++) yield i;
 * }
 * const returned: ImplReturn<typeof count> = upTo(3);
 * ```
 */
export type ImplReturn<F> = ReturnsOf<F> extends { readonly "~plugboxStreamItem": infer I }
  ? AsyncIterable<SchemaInput<I>>
  : ImplResult<F> | Promise<ImplResult<F>>;

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
  /** For a streaming method, the schema of one item. */
  item?: z.ZodType;
  /** The schema of its progress reports, if the contract gives one. */
  progress?: z.ZodType;
  /** A quick yes for plain arguments, before `input` (see quick_check.ts). */
  quickInput?: QuickCheck;
  /** A quick yes for a plain result, before `output`. */
  quickOutput?: QuickCheck;
}

const compiledCapabilities = new WeakMap<Contract, Map<string, MethodInfo>>();

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
  const item = streamItemOf(output);
  const info: MethodInfo = { input: input!, output, arity: tuple.items!.length };
  if (item) info.item = item;
  const quickInput = quickCheck(input);
  if (quickInput) info.quickInput = quickInput;
  const quickOutput = item ? undefined : quickCheck(output);
  if (quickOutput) info.quickOutput = quickOutput;
  return info;
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
export function defineContract<
  const N extends string,
  const M extends MethodSchemas,
  const K extends MethodSchemas = Record<never, MethodSchema>,
  const P extends ProgressSchemas<M> = Record<never, AnySchema>,
>(definition: ContractDefinition<N, M, K, P>): Contract<N, M, K, P> {
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
  const capabilities = compileCapabilities(name, definition.capabilities);
  const progress = definition.progress ?? {};
  if (typeof progress !== "object" || progress === null) {
    fail(` "${name}"`, `"progress" must be an object of schemas by method name`);
  }
  for (const [method, schema] of Object.entries(progress)) {
    const info = infos.get(method);
    if (!info) fail(` "${name}"`, `"progress" names "${method}", which is not a method`);
    if (!(schema instanceof z.ZodType)) {
      fail(` "${name}"`, `the progress schema of "${method}" must be a zod schema`);
    }
    info.progress = schema;
  }
  const contract = Object.freeze({
    name,
    version,
    methods: Object.freeze({ ...methods }),
    capabilities: Object.freeze({ ...definition.capabilities }) as K,
    progress: Object.freeze({ ...progress }) as P,
  });
  compiled.set(contract, infos);
  compiledCapabilities.set(contract, capabilities);
  return contract;
}

function compileCapabilities(contract: string, capabilities: unknown): Map<string, MethodInfo> {
  const infos = new Map<string, MethodInfo>();
  if (capabilities === undefined) return infos;
  if (typeof capabilities !== "object" || capabilities === null) {
    fail(` "${contract}"`, `"capabilities" must be an object of z.function schemas`);
  }
  for (const [name, schema] of Object.entries(capabilities)) {
    const info = compileMethod(contract, name, schema);
    if (info.item) fail(` "${contract}"`, `capability "${name}" cannot stream its output`);
    infos.set(name, info);
  }
  return infos;
}

/** Compiles a contract made by another copy of this module, once. */
function compileForeign(contract: Contract): void {
  const copy = defineContract(contract as ContractDefinition<string, MethodSchemas>);
  compiled.set(contract, compiled.get(copy)!);
  compiledCapabilities.set(contract, compiledCapabilities.get(copy)!);
}

/**
 * The compiled methods of a contract. A contract made by another copy of
 * this module (two versions of the package in one graph) is checked and
 * compiled here on first use.
 * @throws {TypeError} when `contract` is not a valid contract.
 */
export function methodsOf(contract: Contract): Map<string, MethodInfo> {
  if (!compiled.has(contract)) compileForeign(contract);
  return compiled.get(contract)!;
}

/**
 * The compiled capabilities of a contract (empty when it declares none).
 * @throws {TypeError} when `contract` is not a valid contract.
 */
export function capabilitiesOf(contract: Contract): Map<string, MethodInfo> {
  if (!compiledCapabilities.has(contract)) compileForeign(contract);
  return compiledCapabilities.get(contract)!;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/**
 * What a plugin passes to `host.fetch`.
 *
 * @example
 * ```ts
 * import type { HostFetchRequestInput } from "./contract.ts";
 * const request: HostFetchRequestInput = { url: "https://api.example.com/", method: "POST", body: "{}" };
 * ```
 */
export interface HostFetchRequestInput {
  /** An http or https URL, at most 8192 characters. */
  url: string;
  /**
   * The method.
   * @default {"GET"}
   */
  method?: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Request headers (at most 64); a secret's header for its bound host is the host's to set. */
  headers?: Record<string, string>;
  /** The body, as text. */
  body?: string;
}

/**
 * A fetch request as the host's implementation receives it (the method filled in).
 *
 * @example
 * ```ts
 * import type { HostFetchRequestData } from "./contract.ts";
 * const request: HostFetchRequestData = { url: "https://api.example.com/", method: "GET" };
 * ```
 */
export interface HostFetchRequestData extends HostFetchRequestInput {
  /** The method. */
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
}

/**
 * What `host.fetch` answers.
 *
 * @example
 * ```ts
 * import type { HostFetchResponseData } from "./contract.ts";
 * const response: HostFetchResponseData = {
 *   status: 200,
 *   statusText: "OK",
 *   headers: {},
 *   body: "",
 *   url: "https://api.example.com/",
 * };
 * ```
 */
export interface HostFetchResponseData {
  /** The HTTP status (a 3xx is not followed). */
  status: number;
  /** The status text. */
  statusText: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** The body as text (UTF-8, invalid bytes replaced). */
  body: string;
  /** The URL fetched. */
  url: string;
}

/**
 * The schema type of {@linkcode HostFetchRequest}.
 *
 * @example
 * ```ts
 * import { HostFetchRequest, type HostFetchRequestSchema } from "./contract.ts";
 * const schema: HostFetchRequestSchema = HostFetchRequest;
 * ```
 */
export type HostFetchRequestSchema = AnySchema & {
  readonly _zod: { output: HostFetchRequestData; input: HostFetchRequestInput };
};

/**
 * The schema type of {@linkcode HostFetchResponse}.
 *
 * @example
 * ```ts
 * import { HostFetchResponse, type HostFetchResponseSchema } from "./contract.ts";
 * const schema: HostFetchResponseSchema = HostFetchResponse;
 * ```
 */
export type HostFetchResponseSchema = AnySchema & {
  readonly _zod: { output: HostFetchResponseData; input: HostFetchResponseData };
};

/**
 * The schema type of {@linkcode hostFetchCapability}.
 *
 * @example
 * ```ts
 * import { hostFetchCapability, type HostFetchCapability } from "./contract.ts";
 * const schema: HostFetchCapability = hostFetchCapability;
 * ```
 */
export type HostFetchCapability = MethodSchema & {
  readonly _zod: {
    def: {
      input: AnySchema & {
        readonly _zod: { output: [HostFetchRequestData]; input: [HostFetchRequestInput] };
      };
      output: HostFetchResponseSchema;
    };
  };
};

/**
 * What a plugin asks the host's `fetch` capability for (see `hostFetch`):
 * an http(s) URL, a method, headers and a text body, each bounded. A
 * `z.lazy` schema, built on its first use (every plugin loads this module):
 * parsing, its errors and its JSON Schema are an object schema's; object
 * methods such as `.extend` are not offered.
 *
 * @example
 * ```ts
 * import { HostFetchRequest } from "./contract.ts";
 * const request = HostFetchRequest.parse({ url: "https://api.example.com/v1/items" });
 * ```
 */
export const HostFetchRequest: HostFetchRequestSchema = lazily(() =>
  z.object({
    url: z.string().max(8192),
    method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
    headers: z.record(z.string().regex(HEADER_NAME), z.string().max(8192)).refine(
      (headers) => Object.keys(headers).length <= 64,
      "at most 64 headers",
    ).optional(),
    body: z.string().optional(),
  })
);

/**
 * What the host's `fetch` capability answers: status, headers and the body
 * as text. Redirects are not followed (the plugin sees the 3xx and may ask
 * again, checked again). Built on first use, like {@linkcode HostFetchRequest}.
 *
 * @example
 * ```ts
 * import { HostFetchResponse } from "./contract.ts";
 * const response = HostFetchResponse.parse({
 *   status: 200,
 *   statusText: "OK",
 *   headers: { "content-type": "application/json" },
 *   body: "{}",
 *   url: "https://api.example.com/v1/items",
 * });
 * ```
 */
export const HostFetchResponse: HostFetchResponseSchema = lazily(() =>
  z.object({
    status: z.number().int(),
    statusText: z.string(),
    headers: z.record(z.string(), z.string()),
    body: z.string(),
    url: z.string(),
  })
);

/**
 * A schema built on its first use. Every plugin loads this module (the SDK),
 * and the fetch schemas use eight kinds of zod schema a plugin may never
 * touch: built at load, they cost each start about 6 ms of zod compiling.
 */
function lazily<T>(build: () => z.ZodType): T {
  return z.lazy(build) as unknown as T;
}

/**
 * The schema of the host's `fetch` capability: declare it in a contract's
 * `capabilities` and pass `hostFetch({...})` as its implementation.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, hostFetchCapability } from "./contract.ts";
 *
 * export const Weather = defineContract({
 *   name: "weather",
 *   version: 1,
 *   methods: { today: z.function({ input: [z.string()], output: z.string() }) },
 *   capabilities: { fetch: hostFetchCapability },
 * });
 * ```
 */
export const hostFetchCapability: HostFetchCapability = z.function({
  input: [HostFetchRequest],
  output: HostFetchResponse,
});
