/**
 * The host's typed API object, built from a contract: validates arguments,
 * hands the call to its target, turns wire errors into domain errors, and
 * validates the result (the plugin is untrusted).
 * @module
 */

import { type Contract, type ContractApi, type MethodCallOptions, methodsOf } from "../contract.ts";
import type { z } from "npm:zod@^4.1.0";
import { ValidationError } from "../errors.ts";
import { wireMethod } from "../wire/mod.ts";
import { toCallError, toIssues } from "./answer_errors.ts";
import { checkThrew, parseUntrusted, type Untrusted } from "../untrusted_parse.ts";
import { checkMs, checkSignal } from "./check_options.ts";
import { refuseUnknownKeys } from "../sandbox/mod.ts";
import { checkCallOptions, type MethodSite, progressCall, streamCall } from "./method_calls.ts";

/**
 * Options for calls made through an API object.
 *
 * @example
 * ```ts ignore
 * import { type CallOptions, startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * const shutdown = new AbortController();
 * const options: CallOptions = { timeout: 1_000, signal: shutdown.signal };
 * const greeter = plugin.api(Greeter, options); // 1 s per call; shutdown.abort() cancels them all
 * ```
 */
export interface CallOptions {
  /** Aborting rejects the call with `signal.reason` and cancels it in the plugin. */
  signal?: AbortSignal;
  /**
   * Deadline for each call in milliseconds; passing it rejects with a
   * `TimeoutError`. Defaults to the plugin's `callTimeout`.
   */
  timeout?: number;
}

/** What an API object sends its calls to: a plugin, or a managed plugin. */
export interface CallTarget {
  /** The plugin's name, for error messages. */
  readonly name: string;
  /** Sends one call on the wire and resolves with the raw result. */
  call(method: string, params: unknown[], options: CallOptions): Promise<unknown>;
}

/**
 * How a typed call turns the plugin's raw answer into what its caller gets:
 * the proxy's validation and error mapping, handed down so that the call's
 * own object applies them (no promise chained per call).
 */
export interface AnswerMap {
  /** The result the caller gets; throws to refuse it (a result that breaks the contract). */
  result(raw: unknown): unknown;
  /** The error the caller gets when the call fails. */
  error(error: unknown): unknown;
}

/**
 * `schema.safeParse(args)`, a throw of the schema's own code a failed check (review 145: it was
 * thrown at once by the call, where every other failure rejects the promise it returns).
 */
function checkArguments(schema: z.ZodType, args: unknown[]): Untrusted<unknown> {
  try {
    return schema.safeParse(args);
  } catch (error) {
    return checkThrew(error);
  }
}

/** Settles `promise` as a typed call: the result mapped (or refused) and the error mapped. */
export function mapAnswer(promise: Promise<unknown>, answer: AnswerMap): Promise<unknown> {
  return promise.then(answer.result, (error) => {
    throw answer.error(error);
  });
}

/**
 * A target that takes an {@linkcode AnswerMap} with the call: plugbox's
 * plugins. A target without it (an in-memory one, say) gets the answer
 * mapped by a promise chain.
 */
export const CALL_TYPED: unique symbol = Symbol("plugbox.callTyped");

/**
 * A target that is told what checking its answers took of the host's thread
 * where the check ran after the answer's reading (a call with a signal,
 * progress, a channel, an audit): plugbox's plugins charge it to the pace
 * of their answers' reading (review 153; answer_pace.ts).
 * @ignore
 */
export const CHARGE_CHECK: unique symbol = Symbol("plugbox.chargeCheck");

/** A {@linkcode CallTarget} that also takes typed calls. */
export interface TypedCallTarget extends CallTarget {
  /** Like `call`, with the answer mapped by `answer`. */
  [CALL_TYPED](
    method: string,
    params: unknown[],
    options: CallOptions,
    answer: AnswerMap,
  ): Promise<unknown>;
}

/**
 * Builds the typed API object for `contract`, sending calls to `target`.
 * A plain object with one function per method; each has `.with(options)`
 * for per-call options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { defineContract } from "../contract.ts";
 * import { createApi } from "./proxy.ts";
 *
 * const Echo = defineContract({
 *   name: "echo",
 *   version: 1,
 *   methods: { echo: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const api = createApi(Echo, {
 *   name: "in-memory",
 *   call: (_method, params) => Promise.resolve(params[0]),
 * });
 * assert.ok(await api.echo("hi") === "hi");
 * ```
 */
export function createApi<C extends Contract>(
  contract: C,
  target: CallTarget,
  options: CallOptions = {},
): ContractApi<C> {
  // Review 145: null failed as "Cannot read properties of null (reading 'timeout')".
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Call options must be an object, got ${options === null ? "null" : typeof options}`,
    );
  }
  // `{ timout: 1000 }` was taken for no deadline of its own: every call waited 30 s (review 165).
  refuseUnknownKeys("Cannot make the API", options, ["signal", "timeout"]);
  checkMs("timeout", options.timeout);
  checkSignal(options.signal);
  const api: Record<string, unknown> = {};
  for (const [method, info] of methodsOf(contract)) {
    const wire = wireMethod(contract.name, method);
    const charge = (target as { [CHARGE_CHECK]?: (ms: number) => void })[CHARGE_CHECK];
    const validateResult = (raw: unknown): unknown => {
      if (info.quickOutput?.(raw)) return raw;
      if (!charge) return checkResult(raw);
      // Timed: off the call's own object, the check runs after the answer's reading was measured,
      // and its cost (a union over 400,000 items: 0.2 s) was charged to no pace (review 153).
      const began = performance.now();
      try {
        return checkResult(raw);
      } finally {
        charge.call(target, performance.now() - began);
      }
    };
    const checkResult = (raw: unknown): unknown => {
      let result = parseUntrusted(info.output, raw);
      // JSON has no undefined either: a void result travels as null.
      if (!result.success && raw === null) {
        const asVoid = info.output.safeParse(undefined);
        if (asVoid.success) result = asVoid;
      }
      if (!result.success) {
        throw new ValidationError({
          contract: contract.name,
          method,
          direction: "output",
          issues: toIssues(result.error.issues),
          plugin: target.name,
        }, "threw" in result ? { cause: result.threw } : undefined);
      }
      return result.data;
    };
    const answer: AnswerMap = {
      result: validateResult,
      error: (error) => toCallError(error, target.name, contract.name, method),
    };
    const typed = (target as Partial<TypedCallTarget>)[CALL_TYPED];
    const site: MethodSite = {
      contract: contract.name,
      method,
      wire,
      info,
      target,
      mapError: answer.error,
      charge: charge && ((ms: number) => charge.call(target, ms)),
    };
    // Not async: a plain promise chain costs one promise less per call.
    const invoke = (options: CallOptions & MethodCallOptions, args: unknown[]): unknown => {
      const checked = info.quickInput?.(args) ? undefined : checkArguments(info.input, args);
      if (checked && !checked.success) {
        const error = new ValidationError({
          contract: contract.name,
          method,
          direction: "input",
          issues: toIssues(checked.error.issues),
        }, "threw" in checked ? { cause: checked.threw } : undefined);
        if (info.item) throw error;
        return Promise.reject(error);
      }
      // JSON has no undefined: trailing omitted arguments are dropped, not sent as null.
      let end = args.length;
      while (end > 0 && args[end - 1] === undefined) end--;
      const params = end === args.length ? args : args.slice(0, end);
      if (info.item) return streamCall(site, params, options);
      if (options.onProgress || options.resetTimeoutOnProgress) {
        // Its result is checked as every other call's (review 153: it reached the caller unchecked,
        // a 16 MiB string for a number).
        return progressCall(site, params, options).then(validateResult);
      }
      try {
        if (typed) return typed.call(target, wire, params, options, answer);
        return mapAnswer(target.call(wire, params, options), answer);
      } catch (error) {
        return Promise.reject(toCallError(error, target.name, contract.name, method));
      }
    };
    const fn = (...args: unknown[]) => invoke(options, args);
    fn.with = (perCall: MethodCallOptions) => {
      checkCallOptions(perCall);
      const merged = { ...options, ...perCall };
      return (...args: unknown[]) => invoke(merged, args);
    };
    api[method] = Object.freeze(fn);
  }
  return Object.freeze(api) as unknown as ContractApi<C>;
}
