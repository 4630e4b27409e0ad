/**
 * Plugin side: maps wire methods to implementations, validates arguments
 * before the implementation runs and its result after, and encodes errors.
 * @module
 */

import {
  type Contract,
  type ContractImpl,
  type MethodInfo,
  methodsOf,
  omittedArguments,
} from "../contract.ts";
import { type RequestContext, ResponseError } from "../wire/mod.ts";
import { z } from "npm:zod@^4.1.0";
import {
  type DescribedContract,
  ErrorCode,
  RuntimeMethod,
  type ServedContract,
  wireMethod,
} from "../wire/mod.ts";
import { messageOf, textOf } from "../thrown_text.ts";
import { HandlerContext, type HostLink } from "./host_calls.ts";
import { type MeasuredSend, StreamCredits } from "./stream_out.ts";

/** The dispatcher's connection to the host, for capabilities, progress and stream items. */
export interface DispatchLink extends HostLink {
  /** Sends one message at once and says how many bytes its line is. */
  send: MeasuredSend;
}

// Before serve() connects a dispatcher (a test calling dispatch() directly), the host is unreachable.
const UNCONNECTED: DispatchLink = {
  request: () => Promise.reject(new Error("Cannot call the host: not connected")),
  notify: () => {},
  send: () => 0,
};

/**
 * A contract paired with its implementation; made by {@linkcode implement}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { defineContract } from "../contract.ts";
 * import { implement, type Implementation } from "./dispatch.ts";
 *
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const greeter: Implementation = implement(Greeter, { sayHello: (name) => `hello, ${name}` });
 * assert.equal(greeter.contract, Greeter);
 * ```
 */
export interface Implementation<C extends Contract = Contract> {
  /** The contract implemented. */
  readonly contract: C;
  /** One function per contract method. */
  readonly methods: ContractImpl<C>;
}

/**
 * Pairs a contract with its implementation, type-checked against the
 * contract (arguments, result, sync or async).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract } from "../contract.ts";
 * import { implement } from "./dispatch.ts";
 *
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const greeter = implement(Greeter, { sayHello: (name) => `hello, ${name}` });
 * ```
 * @throws {TypeError} when a method is missing, extra, or not a function.
 */
export function implement<C extends Contract>(
  contract: C,
  methods: ContractImpl<C>,
): Implementation<C> {
  const infos = methodsOf(contract);
  const given = (typeof methods === "object" && methods !== null ? methods : {}) as Record<
    string,
    unknown
  >;
  for (const name of infos.keys()) {
    if (typeof given[name] !== "function") {
      throw new TypeError(
        `Cannot implement contract "${contract.name}": method "${name}" is ${
          name in given ? "not a function" : "missing"
        }`,
      );
    }
  }
  for (const name of Object.keys(given)) {
    if (!infos.has(name)) {
      throw new TypeError(
        `Cannot implement contract "${contract.name}": method "${name}" is not in the contract`,
      );
    }
  }
  return Object.freeze({ contract, methods });
}

interface Route {
  contract: Contract;
  info: MethodInfo;
  fn: (...args: unknown[]) => unknown;
}

// Deno's NotCapable message: Requires read access to "/etc/hostname", run again with ...
const NOT_CAPABLE = /^Requires (\w+) access to (?:"([^"]*)"|(\S+?)),? run again/;

function permissionData(error: Error): { name: string; permission: string; target?: string } {
  const match = NOT_CAPABLE.exec(error.message);
  if (!match) return { name: error.name, permission: "unknown" };
  const target = match[2] ?? match[3];
  return target === undefined
    ? { name: error.name, permission: match[1] }
    : { name: error.name, permission: match[1], target };
}

function issuesOf(
  error: { issues: readonly { path: PropertyKey[]; message: string; code?: string }[] },
) {
  return error.issues.map((i) => ({
    path: i.path.map((p) => typeof p === "number" ? p : String(p)),
    message: i.message,
    code: i.code,
  }));
}

function pathText(path: (string | number)[]): string {
  return path.length === 0 ? "(root)" : path.map((p) => `[${JSON.stringify(p)}]`).join("");
}

/**
 * Encodes whatever an implementation threw as a JSON-RPC error; a value whose reading throws (a
 * revoked Proxy, whose `instanceof` throws; a `message` getter that throws, or a `message` or a
 * value with no text) as a plain one. Review 158: that throw reached the peer's answer to it, and
 * ended the plugin ("stopped reading input"), every call in flight with it.
 */
function toResponseError(error: unknown): ResponseError {
  try {
    return encodeThrown(error);
  } catch {
    return new ResponseError(ErrorCode.ApplicationError, messageOf(error), { name: "Error" });
  }
}

function encodeThrown(error: unknown): ResponseError {
  if (error instanceof ResponseError) return error;
  if (error instanceof Deno.errors.NotCapable) {
    return new ResponseError(ErrorCode.PermissionDenied, error.message, permissionData(error));
  }
  if (error instanceof Error) {
    return new ResponseError(ErrorCode.ApplicationError, error.message, { name: error.name });
  }
  return new ResponseError(ErrorCode.ApplicationError, textOf(error), { name: typeof error });
}

/**
 * Routes wire methods (`contract.method`) to implementations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { defineContract } from "../contract.ts";
 * import { Dispatcher, implement } from "./dispatch.ts";
 *
 * const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const dispatcher = new Dispatcher([implement(Greeter, { sayHello: (n) => `hello, ${n}` })]);
 * const result = await dispatcher.dispatch("greeter.sayHello", ["a"], {
 *   id: 1,
 *   signal: new AbortController().signal,
 * });
 * assert.ok(result === "hello, a");
 * ```
 */
export class Dispatcher {
  #routes = new Map<string, Route>();
  #contracts: Contract[] = [];
  #link: DispatchLink = UNCONNECTED;
  #credits = new StreamCredits();
  /** What this dispatcher serves, as the handshake reports it. */
  readonly served: ServedContract[] = [];

  /**
   * Routes for every method of every implementation.
   * @throws {TypeError} when a contract is served twice.
   */
  constructor(implementations: readonly Implementation[]) {
    for (const { contract, methods } of implementations) {
      if (this.served.some((c) => c.name === contract.name)) {
        throw new TypeError(`Cannot serve contract "${contract.name}" twice in one plugin`);
      }
      const infos = methodsOf(contract);
      for (const [name, info] of infos) {
        const fn = (methods as Record<string, (...args: unknown[]) => unknown>)[name];
        this.#routes.set(wireMethod(contract.name, name), {
          contract,
          info,
          fn: fn.bind(methods),
        });
      }
      this.served.push({
        name: contract.name,
        version: contract.version,
        methods: [...infos.keys()],
      });
      this.#contracts.push(contract);
    }
  }

  /** Connects the dispatcher to the host (serve() does, once its peer exists). */
  connect(link: DispatchLink): void {
    this.#link = link;
  }

  /** Takes a notification from the host: `$/credit` for a stream; others are ignored. */
  notify(method: string, params: unknown): void {
    if (method === RuntimeMethod.credit) this.#credits.grant(params);
  }

  /** Every served contract with JSON Schemas of each method's arguments and result (`$/describe`). */
  describe(): DescribedContract[] {
    const schema = (value: z.ZodType, io: "input" | "output") =>
      z.toJSONSchema(value, { io, unrepresentable: "any" });
    return this.#contracts.map((contract) => ({
      name: contract.name,
      version: contract.version,
      methods: [...methodsOf(contract)].map(([name, info]) => ({
        name,
        input: schema(info.input, "input"),
        output: schema(info.output, "output"),
      })),
    }));
  }

  /**
   * Validates `params`, runs the implementation, validates its result.
   * Throws (or rejects, for async implementations) a {@linkcode ResponseError}
   * carrying the wire code. A synchronous implementation is answered
   * synchronously, so its response goes out before the next read.
   */
  dispatch(method: string, params: unknown, context: RequestContext): unknown {
    const route = this.#routes.get(method);
    if (!route) {
      throw new ResponseError(ErrorCode.MethodNotFound, `Method "${method}" not found`);
    }
    const values = route.info.quickInput?.(params)
      ? params as unknown[] // the line's own array, parsed for this call alone
      : this.#checkArgs(route.info, params);
    // The context always lands after the last declared argument, even when
    // optional ones were omitted.
    while (values.length < route.info.arity) values.push(undefined);
    let result: unknown;
    const handlerContext = new HandlerContext(
      route.contract,
      this.#link,
      context,
      route.info.progress,
    );
    try {
      result = route.fn(...values, handlerContext);
    } catch (error) {
      throw toResponseError(error);
    }
    if (route.info.item) return this.#stream(method, route.info.item, result, context);
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (value) => checkResult(method, route.info, value),
        (e) => Promise.reject(toResponseError(e)),
      );
    }
    return checkResult(method, route.info, result);
  }

  #checkArgs(info: MethodInfo, params: unknown): unknown[] {
    let args = info.input.safeParse(params === undefined ? [] : params);
    const restored = !args.success && Array.isArray(params)
      ? omittedArguments(info, params)
      : undefined;
    if (restored) {
      const again = info.input.safeParse(restored);
      if (again.success) args = again; // else the error names what was sent
    }
    if (!args.success) {
      const issues = issuesOf(args.error);
      throw new ResponseError(
        ErrorCode.InvalidParams,
        `Invalid argument at ${pathText(issues[0]?.path ?? [])}: ${issues[0]?.message}`,
        { issues },
      );
    }
    return args.data as unknown[];
  }

  #stream(method: string, item: z.ZodType, result: unknown, context: RequestContext): unknown {
    const source = result as AsyncIterable<unknown> | null;
    if (typeof source?.[Symbol.asyncIterator] !== "function") {
      throw new ResponseError(
        ErrorCode.InvalidResult,
        `Implementation of "${method}" returned no async iterable (write it as an async generator)`,
      );
    }
    return this.#credits.pump(context.id, source, item, {
      signal: context.signal,
      send: this.#link.send,
      method,
    }).catch((e) => Promise.reject(toResponseError(e)));
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function checkResult(method: string, info: MethodInfo, result: unknown): unknown {
  if (info.quickOutput?.(result)) return result;
  const checked = info.output.safeParse(result);
  if (!checked.success) {
    const issues = issuesOf(checked.error);
    throw new ResponseError(
      ErrorCode.InvalidResult,
      `Implementation of "${method}" returned an invalid result at ${
        pathText(issues[0]?.path ?? [])
      }: ${issues[0]?.message}`,
      { issues },
    );
  }
  return result;
}
