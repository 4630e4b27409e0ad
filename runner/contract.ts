/**
 * `defineContract` and `stream`: a contract made and checked once, and the
 * compiled view of its methods both sides use. The type mapping both sides
 * derive from it (`ContractApi`, `ContractImpl`) is in contract_types.ts,
 * the host fetch schemas in host_fetch_schemas.ts; this module re-exports
 * both.
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import { type QuickCheck, quickCheck } from "./quick_check.ts";
import { messageOf } from "./thrown_text.ts";
import { defOf, findSchema, MAX_WALKED, type SchemaDef } from "./schema_walk.ts";
import type {
  AnySchema,
  Contract,
  ContractDefinition,
  MethodSchema,
  MethodSchemas,
  ProgressSchemas,
  StreamSchema,
} from "./contract_types.ts";

export type * from "./contract_types.ts";
export * from "./host_fetch_schemas.ts";

const STREAM_ITEM = "~plugboxStreamItem";

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
 * The most methods a contract may declare: what a plugin's handshake answer
 * may list of one contract (the host refuses more, as a plugin's fault).
 */
export const MAX_METHODS = 1000;

/** A contract's name: a letter, then at most 63 letters, digits, `_` or `-`. */
export const CONTRACT_NAME: RegExp = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** A method's (and capability's) name: an identifier of at most 64 characters. */
export const METHOD_NAME: RegExp = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
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
  /** The tuple's own schemas, one per argument. */
  items: readonly z.ZodType[];
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

/**
 * A template literal whose check may take time quadratic in the text: zod
 * tests it with one regex, whose backtracking runs through one part of
 * unbounded length (a string without `.max()`, a number) at each place
 * another could begin, literals between them or not. `${string}${number}`
 * took 0.6 s of the host's thread on 40,000 characters of a plugin's text,
 * and about half an hour on 2 MiB (review 109).
 */
function slowTemplate(def: SchemaDef, schema: object): boolean {
  if (def.type !== "template_literal") return false;
  const pattern = (schema as { _zod: { pattern?: unknown } })._zod.pattern;
  if (!(pattern instanceof RegExp)) return true;
  // The widest part backtracks through the others: its width does not multiply, theirs do.
  const [, ...others] = quantifierWidths(pattern.source).sort((a, b) => b - a);
  return others.reduce((product, width) => product * width, 1) > MAX_SPLITS;
}

/**
 * How many ways a template's parts but its widest may take their share of
 * the text, at most: two parts of `.max(20_000)` split 40,000 characters
 * 20,001 ways at each place, and took 0.6 s as two unbounded ones did
 * (review 113: the `.max()` review 109 advised, given generously).
 */
const MAX_SPLITS = 4096;

const RANGE = /\{(\d+)(,(\d*))?\}/y;

/**
 * The width of each quantifier in a regex's `source` (how many lengths it
 * may take; Infinity without a bound), a number's fraction, after its `.`,
 * not counted.
 */
function quantifierWidths(source: string): number[] {
  const text = source.replaceAll("(?:\\.\\d+)?", "");
  const widths: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++; // an escaped character: no quantifier
    else if (text[i] === "+" || text[i] === "*") widths.push(Infinity);
    else if (text[i] === "?" && (text[i - 1] !== "(" || text[i - 2] === "\\")) widths.push(2);
    else if (text[i] === "{") {
      RANGE.lastIndex = i;
      const [, low, comma, high] = RANGE.exec(text) ?? [];
      if (low === undefined) continue;
      widths.push(!comma ? 1 : high === "" ? Infinity : Number(high) - Number(low) + 1);
    }
  }
  return widths;
}

/** Refuses a schema of `what` that holds a {@linkcode slowTemplate}. */
function refuseSlowTemplates(where: string, what: string, schema: unknown): void {
  const found = findSchema(schema, slowTemplate);
  if (!found) return;
  const pattern = String((found as { _zod: { pattern?: unknown } })._zod.pattern).slice(0, 120);
  fail(
    where,
    defOf(found)?.type === "template_literal"
      ? `${what} holds a z.templateLiteral (${pattern}) with two parts of unbounded or wide length, whose check takes time quadratic in the text it is given: bound its strings with .max() (the ways its parts but the widest can split the text multiply, to at most ${MAX_SPLITS}), or check the text with a refine() of your own`
      : `${what} holds more than ${MAX_WALKED} schemas, or one that cannot be looked through`,
  );
}

function compileMethod(contract: string, name: string, schema: unknown): MethodInfo {
  const where = ` "${contract}"`;
  if (!METHOD_NAME.test(name) || RESERVED_METHODS.has(name)) {
    fail(
      where,
      `method name ${
        shown(name)
      } must be an identifier of at most 64 characters, not "then", "__proto__" or "constructor"`,
    );
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
  // Review 145: a hole (`input: [, z.number()]`) was taken, and every call failed in zod with
  // "Cannot read properties of undefined (reading '_zod')".
  const odd = Array.from(tuple.items ?? [], (item) => item instanceof z.ZodType).indexOf(false);
  if (odd !== -1) fail(where, `method "${name}" has no zod schema for its argument ${odd}`);
  if (!output) fail(where, `method "${name}" needs an "output" schema`);
  const item = streamItemOf(output);
  for (const part of [input, output, item]) refuseSlowTemplates(where, `method "${name}"`, part);
  const items = tuple.items as z.ZodType[];
  const info: MethodInfo = { input: input!, output, arity: items.length, items };
  if (item) info.item = item;
  const quickInput = quickCheck(input);
  if (quickInput) info.quickInput = quickInput;
  const quickOutput = item ? undefined : quickCheck(output);
  if (quickOutput) info.quickOutput = quickOutput;
  return info;
}

function takesNull(schema: z.ZodType): boolean {
  try {
    return schema.safeParse(null).success;
  } catch {
    return false; // a refinement that throws on null does not take it
  }
}

/**
 * The arguments as their sender meant them, when they failed the tuple as
 * sent. JSON has no undefined, so an argument left out before the last one
 * travels as null (plugbox's own senders drop trailing ones). Where the
 * contract refuses null at that place, null can only mean "left out": it
 * becomes undefined again. Returns undefined when no argument changed.
 * Called only after a failed check, so a call that passes pays nothing, and
 * it looks at no more places than the tuple has.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { defineContract, methodsOf, omittedArguments } from "./contract.ts";
 *
 * const Span = defineContract({
 *   name: "span",
 *   version: 1,
 *   methods: {
 *     pad: z.function({ input: [z.number(), z.string().optional(), z.number()], output: z.string() }),
 *   },
 * });
 * const info = methodsOf(Span).get("pad")!;
 * assert.deepEqual(omittedArguments(info, [1, null, 3]), [1, undefined, 3]);
 * assert.equal(omittedArguments(info, [1, "x", 3]), undefined);
 * ```
 */
export function omittedArguments(
  info: MethodInfo,
  args: readonly unknown[],
): unknown[] | undefined {
  let restored: unknown[] | undefined;
  const places = Math.min(args.length, info.items.length);
  for (let i = 0; i < places; i++) {
    if (args[i] !== null || takesNull(info.items[i])) continue;
    restored ??= args.slice();
    restored[i] = undefined;
  }
  return restored;
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
  const { name, version, methods, ...rest } = readDefinition(definition);
  if (typeof name !== "string" || !CONTRACT_NAME.test(name)) {
    fail("", `"name" must be a letter then letters, digits, "_" or "-", got ${shown(name)}`);
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    fail(` "${name}"`, `"version" must be a positive integer, got ${shown(version)}`);
  }
  if (typeof methods !== "object" || methods === null || Object.keys(methods).length === 0) {
    fail(` "${name}"`, `"methods" must be an object with at least one method`);
  }
  // Review 145: 1,001 were taken here, and every start ended in a ProtocolError blaming the
  // plugin, whose handshake answer listed more methods than a host takes.
  if (Object.keys(methods).length > MAX_METHODS) {
    fail(` "${name}"`, `"methods" holds more than ${MAX_METHODS} methods`);
  }
  const infos = new Map<string, MethodInfo>();
  for (const [method, schema] of Object.entries(methods)) {
    infos.set(method, compileMethod(name, method, schema));
  }
  const capabilities = compileCapabilities(name, rest.capabilities);
  const progress = rest.progress ?? {};
  if (typeof progress !== "object" || progress === null) {
    fail(` "${name}"`, `"progress" must be an object of schemas by method name`);
  }
  for (const [method, schema] of Object.entries(progress)) {
    const info = infos.get(method);
    if (!info) fail(` "${name}"`, `"progress" names "${method}", which is not a method`);
    if (!(schema instanceof z.ZodType)) {
      fail(` "${name}"`, `the progress schema of "${method}" must be a zod schema`);
    }
    refuseSlowTemplates(` "${name}"`, `the progress schema of "${method}"`, schema);
    info.progress = schema;
  }
  const contract = Object.freeze({
    name,
    version,
    methods: Object.freeze({ ...methods }),
    capabilities: Object.freeze({ ...rest.capabilities }) as K,
    progress: Object.freeze({ ...progress }) as P,
  });
  compiled.set(contract, infos);
  compiledCapabilities.set(contract, capabilities);
  return contract;
}

/** The fields a contract's definition has. */
const DEFINITION_KEYS = ["name", "version", "methods", "capabilities", "progress"];

/**
 * The definition and its objects of schemas, read once: a misspelt field is refused (review 165:
 * `capabilties` was taken for none, and the contract declared no capability), and a getter's or a
 * Proxy's throw is a TypeError saying so, not its bare error.
 */
function readDefinition<D extends object>(definition: D): D {
  try {
    const copy = { ...definition } as Record<string, unknown>;
    for (const key of Object.keys(copy)) {
      if (!DEFINITION_KEYS.includes(key)) {
        fail(
          "",
          `the definition has no field ${shown(key)}; its fields are ${
            DEFINITION_KEYS.map((k) => `"${k}"`).join(", ")
          }`,
        );
      }
    }
    for (const key of ["methods", "capabilities", "progress"]) {
      const value = copy[key];
      if (typeof value === "object" && value !== null) copy[key] = { ...value };
    }
    return copy as D;
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith("Cannot define contract")) {
      throw error;
    }
    // Read where reading cannot throw: a thrown object's own message getter that threw again
    // escaped this catch bare, naming no contract.
    fail("", `reading the definition threw: ${shown(messageOf(error))}`);
  }
}

/**
 * A value as a message quotes it: JSON (control characters escaped), a string's first 80
 * characters; NaN and Infinity as themselves (JSON said "null": review 165).
 */
function shown(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string" && value.length > 80) {
    return `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)`;
  }
  return JSON.stringify(value) ?? String(value);
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
  // Its known fields only: another version's own are its business, not a misspelling.
  const { name, version, methods, capabilities, progress } = contract as Contract;
  const copy = defineContract(
    { name, version, methods, capabilities, progress } as ContractDefinition<string, MethodSchemas>,
  );
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
