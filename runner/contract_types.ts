/**
 * The types both sides derive from a contract: what a contract is, the
 * host's typed API (`ContractApi`) and the plugin's implementation
 * (`ContractImpl`), mapped from its zod schemas. Types only: `contract.ts`
 * makes and checks contracts, and re-exports these.
 * @module
 */

import type { z } from "npm:zod@^4.1.0";

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
