/**
 * Host capabilities: the implementations the host passes at start
 * ({@linkcode provide}), checked against the contracts, and the handler of
 * the plugin's capability calls, which validates every argument the
 * untrusted plugin sends and every result the host returns.
 * @module
 */

import {
  capabilitiesOf,
  type CapabilityContext,
  type CapabilityImpl,
  type Contract,
  type MethodInfo,
  omittedArguments,
} from "../contract.ts";
import { CapabilityError } from "../errors.ts";
import {
  type CapabilityParams,
  ErrorCode,
  isId,
  type JsonScan,
  neutralize,
  type RequestContext,
  type RequestId,
  ResponseError,
  wireMethod,
} from "../wire/mod.ts";
import { toIssues } from "./answer_errors.ts";
import { parseUntrusted } from "../untrusted_parse.ts";
import { guarded } from "./listener.ts";
import { resultToSend } from "./method_calls.ts";

/**
 * A contract's capabilities as the host implements them; made by {@linkcode provide}.
 *
 * @example
 * ```ts ignore
 * import { provide, type Provided, startPlugin } from "@plugbox/plugbox";
 * import { Notes } from "./plugins/notes/contract.ts";
 *
 * const notes: Provided = provide(Notes, { load: (key) => `note ${key}` });
 * await using plugin = await startPlugin("./plugins/notes/main.ts", {
 *   contracts: [Notes],
 *   capabilities: [notes],
 * });
 * ```
 */
export interface Provided<C extends Contract = Contract> {
  /** The contract whose capabilities these are. */
  readonly contract: C;
  /** One function per capability. */
  readonly capabilities: CapabilityImpl<C>;
}

/**
 * The function `given` implements capability `name` with, or `undefined`. A member every object
 * inherits is none (review 122: a capability named `toString` or `valueOf` left out was answered
 * by Object.prototype's own, `"[object Object]"` and the implementation object itself).
 */
function implementationOf(
  given: unknown,
  name: string,
): ((...args: unknown[]) => unknown) | undefined {
  if (typeof given !== "object" || given === null) return undefined;
  const fn = (given as Record<string, unknown>)[name];
  if (typeof fn !== "function") return undefined;
  const inherited = Object.prototype as unknown as Record<string, unknown>;
  if (Object.hasOwn(inherited, name) && fn === inherited[name]) return undefined;
  return fn as (...args: unknown[]) => unknown;
}

/**
 * Pairs a contract with the host's implementation of its capabilities,
 * type-checked against the contract.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract } from "../contract.ts";
 * import { provide } from "./capabilities.ts";
 *
 * const Notes = defineContract({
 *   name: "notes",
 *   version: 1,
 *   methods: { count: z.function({ input: [], output: z.number() }) },
 *   capabilities: { load: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * const notes = provide(Notes, { load: (key) => `note ${key}` });
 * ```
 * @throws {TypeError} when a capability is missing, extra, or not a function.
 */
export function provide<C extends Contract>(
  contract: C,
  capabilities: CapabilityImpl<C>,
): Provided<C> {
  const infos = capabilitiesOf(contract);
  const given =
    (typeof capabilities === "object" && capabilities !== null ? capabilities : {}) as Record<
      string,
      unknown
    >;
  const missing = [...infos.keys()].filter((name) => !implementationOf(given, name));
  if (missing.length > 0) {
    throw new TypeError(
      `Cannot provide the capabilities of contract "${contract.name}": ${
        missing.map((m) => `"${m}"`).join(", ")
      } ${missing.length === 1 ? "is" : "are"} missing or not a function`,
    );
  }
  const extra = Object.keys(given).filter((name) => !infos.has(name));
  if (extra.length > 0) {
    throw new TypeError(
      `Cannot provide the capabilities of contract "${contract.name}": "${
        extra[0]
      }" is not in its "capabilities"`,
    );
  }
  return Object.freeze({ contract, capabilities });
}

/**
 * What a byte parsed for nothing counts as, in the bytes a scan costs: a
 * parse builds a value for every few bytes, about eight times a scan's
 * work (review 65 measured 100 ms of the host's thread for 2 MiB of `{}`).
 */
export const WASTE_PER_PARSED_BYTE = 8;

/** The members a capability call's `params` may have; the SDK sends no others. */
const PARAMS_MEMBERS = new Set(["args", "call"]);

/**
 * What is wrong with a capability call's line as its scan saw it, before
 * its parse: a member beside the envelope's (an answer's `result` or
 * `error` among them) or one twice, a `params` that is not an object, or
 * one with members other than `args` and `call` or one twice. The SDK sends none of these, and a parse would build or drop
 * each for nothing: review 69 measured 2 MB strings beside the envelope,
 * or as a first `"args"`, at 11 to 15 times the plugin's CPU, and no fault.
 * A line too short to be scanned (128 bytes) is judged after its parse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanJson } from "../wire/mod.ts";
 * import { strayInCall } from "./capabilities.ts";
 * const scan = (text: string) =>
 *   scanJson(new TextEncoder().encode(text), { maxDepth: 64, maxMembers: 1000 });
 * const head = '{"jsonrpc":"2.0","id":1,"method":"notes.load"';
 * assert.equal(strayInCall("notes.load", scan(`${head},"params":{"args":["a"],"call":2}}`)), undefined);
 * assert.match(strayInCall("notes.load", scan(`${head},"params":{"args":[],"args":["a"]}}`))!, /twice/);
 * ```
 */
export function strayInCall(method: string, scan: JsonScan): string | undefined {
  const call = `a call of "${method}"`;
  // An answer's members too: a request's parse builds them for nothing (review 71).
  if (scan.stray || scan.members.result || scan.members.error) {
    return `${call} with a member beside "jsonrpc", "id", "method" and "params", or one of them twice`;
  }
  const counts = scan.paramsMembers;
  if (scan.members.params && !counts) return `${call} whose "params" is not an object`;
  if (!counts) return undefined;
  if (counts.other > 0) return `${call} with a member other than "args" and a "call" id`;
  if (counts.args > 1 || counts.call > 1) return `${call} with "args" or "call" twice`;
  return undefined;
}

interface Route {
  info: MethodInfo;
  fn: (...args: unknown[]) => unknown;
}

/** What the handler needs from its plugin. */
export interface CapabilityHostOptions {
  /** The plugin's name. */
  plugin: string;
  /** The end of the host's call `id` to this plugin, if it is in flight. */
  callEnded(id: RequestId): AbortSignal | undefined;
  /** Told about a capability's own failure (what the plugin does not see). */
  onError?: (error: unknown, capability: string) => void;
  /** A survivable protocol fault of the plugin's and its line's size, counted against its budget. */
  fault?: (detail: string, bytes: number) => void;
  /** Work for nothing, as {@linkcode WASTE_PER_PARSED_BYTE} times the bytes parsed for it. */
  wasted?: (bytes: number) => void;
}

/**
 * A signal that aborts with either of two, unlinked from both once
 * disposed. `AbortSignal.any` would do the first half, but the signal it
 * makes lives, with whatever listens to it, as long as its longest-lived
 * source: every capability call linked to one long host call kept its
 * signal and listeners until that call ended (200,000 calls, 290 MiB;
 * review 37).
 */
function linkedSignal(
  own: AbortSignal,
  ended: AbortSignal | undefined,
): { signal: AbortSignal } & Disposable {
  if (!ended) return { signal: own, [Symbol.dispose]: () => {} };
  const controller = new AbortController();
  const sources = [own, ended];
  const abort = (event: Event) => {
    controller.abort((event.target as AbortSignal).reason);
    unlink();
  };
  const unlink = () => sources.forEach((source) => source.removeEventListener("abort", abort));
  const aborted = sources.find((source) => source.aborted);
  if (aborted) controller.abort(aborted.reason);
  else sources.forEach((source) => source.addEventListener("abort", abort, { once: true }));
  return { signal: controller.signal, [Symbol.dispose]: unlink };
}

/**
 * Answers the plugin's capability calls.
 * @throws {TypeError} from the constructor when a contract's capabilities
 * were not provided, naming them, or provided for a contract not started.
 */
export class CapabilityHost {
  #routes = new Map<string, Route>();
  #options: CapabilityHostOptions;

  constructor(
    contracts: readonly Contract[],
    provided: readonly Provided[],
    options: CapabilityHostOptions,
  ) {
    this.#options = options;
    for (const entry of provided) {
      if (!contracts.includes(entry?.contract)) {
        throw new TypeError(
          `Cannot start plugin "${options.plugin}": "capabilities" provides contract "${entry?.contract?.name}", which is not in "contracts"`,
        );
      }
    }
    for (const contract of contracts) {
      const infos = capabilitiesOf(contract);
      if (infos.size === 0) continue;
      const entry = provided.find((p) => p.contract === contract);
      if (!entry) {
        throw new TypeError(
          `Cannot start plugin "${options.plugin}": contract "${contract.name}" needs the host's capabilities ${
            [...infos.keys()].map((n) => `"${n}"`).join(", ")
          }; pass them with "capabilities: [provide(${contract.name}, { ... })]"`,
        );
      }
      const impl = entry.capabilities;
      for (const [name, info] of infos) {
        // Checked again: the object given to provide() may have changed since, or the entry be no
        // provide()'s (it threw "Cannot read properties of undefined (reading 'bind')").
        const fn = implementationOf(impl, name);
        if (!fn) {
          throw new TypeError(
            `Cannot start plugin "${options.plugin}": capability "${name}" of contract "${contract.name}" is missing or not a function in its "capabilities"`,
          );
        }
        this.#routes.set(wireMethod(contract.name, name), { info, fn: fn.bind(impl) });
      }
    }
  }

  /** Whether the plugin may call `method`. */
  has(method: string): boolean {
    return this.#routes.has(method);
  }

  /** Answers one capability call (a known method: see {@linkcode has}). */
  handle(method: string, raw: unknown, request: RequestContext): Promise<unknown> {
    // Not async itself: an async function keeps its arguments while it waits, and `raw` is the
    // whole of `params`, with whatever the plugin put beside its arguments. 64 slow calls, each
    // with 2 MiB of `{}` beside them, held 2.7 GiB of the host's heap (review 65).
    try {
      const { route, values, ended } = this.#check(method, raw, request.bytes ?? 0);
      return this.#run(method, route, values, ended, request);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The call's route, its arguments checked, and the signal of the host's call it was made for. */
  #check(
    method: string,
    raw: unknown,
    bytes: number,
  ): { route: Route; values: unknown[]; ended: AbortSignal | undefined } {
    const route = this.#routes.get(method)!;
    // The SDK sends an object, always: anything else was parsed for nothing (review 66: a 2 MiB
    // string as the params of a call that takes no argument passed, and cost no fault).
    if (raw !== undefined && (typeof raw !== "object" || raw === null || Array.isArray(raw))) {
      const reason = `a call of "${method}" whose "params" is not an object`;
      this.#options.fault?.(reason, bytes);
      throw new ResponseError(ErrorCode.InvalidParams, reason);
    }
    const params = (raw ?? {}) as Partial<CapabilityParams>;
    // Members beside the arguments were parsed for nothing, and the SDK never sends any: a fault,
    // counted by the line's size (review 65: 2 MiB of `{}` beside valid arguments, 109 calls in
    // 10 s, cost the host 87 times the plugin's CPU and no fault).
    for (const member in params) {
      if (PARAMS_MEMBERS.has(member) && (member !== "call" || isId(params.call))) continue;
      const reason = `a call of "${method}" with a member other than "args" and a "call" id`;
      this.#options.fault?.(reason, bytes);
      throw new ResponseError(ErrorCode.InvalidParams, reason);
    }
    const sent = Array.isArray(params.args) ? params.args : [];
    let args = parseUntrusted(route.info.input, sent);
    const restored = args.success ? undefined : omittedArguments(route.info, sent);
    if (restored) {
      const again = parseUntrusted(route.info.input, restored);
      if (again.success) args = again; // else the error names what was sent
    }
    if (!args.success && args.threw !== undefined) {
      // The host's own schema threw, not the plugin's arguments failing it: told to the host, and
      // to the plugin only that the capability failed (review 145: the plugin was answered with
      // the host's exception, and onCapabilityError never heard of it). Parsed for nothing, as
      // failing arguments are: an honest plugin's SDK runs the same check first, and it throws
      // there; a plugin's own copy of the contract sent them, 200 KB a call for free (review 151).
      this.#options.wasted?.(bytes * WASTE_PER_PARSED_BYTE);
      this.#report(args.threw, method);
      throw new ResponseError(ErrorCode.InternalError, `Capability "${method}" failed`, {
        name: "Error",
      });
    }
    if (!args.success) {
      const issues = toIssues(args.error.issues);
      // Parsed whole for nothing: work counted by its size (review 57). Not a fault: the SDK checks
      // arguments before it sends them, but some pass there and not here (a Date, undefined in an
      // array: they do not survive JSON), and an honest plugin was ended for them (review 65).
      this.#options.wasted?.(bytes * WASTE_PER_PARSED_BYTE);
      throw new ResponseError(
        ErrorCode.InvalidParams,
        `Invalid argument to "${method}": ${issues[0]?.message ?? "invalid"}`,
        { name: "ValidationError", issues },
      );
    }
    const values = args.data as unknown[];
    while (values.length < route.info.arity) values.push(undefined);
    const ended = params.call !== undefined ? this.#options.callEnded(params.call) : undefined;
    return { route, values, ended };
  }

  /** Runs a checked call; it holds only what the capability is given. */
  async #run(
    method: string,
    route: Route,
    values: unknown[],
    ended: AbortSignal | undefined,
    request: RequestContext,
  ): Promise<unknown> {
    using linked = linkedSignal(request.signal, ended);
    const context: CapabilityContext = { signal: linked.signal, plugin: this.#options.plugin };
    let result: unknown;
    try {
      result = await route.fn(...values, context);
    } catch (error) {
      throw this.#failure(error, method, context.signal);
    }
    const began = performance.now();
    let checked: { success: boolean; data?: unknown } | undefined;
    try {
      checked = route.info.output.safeParse(result);
    } catch (error) {
      // Its schema's own code threw (a refinement, a transform: review 145), or a getter of the
      // result did (zod catches only its own issues: review 147). That error is the host's: told
      // to the host, and to the plugin only that the capability failed. Sent as text, one that
      // could not be made text threw again where the answer was written, a rejection no one
      // handled and a slot never freed.
      this.#report(error, method);
    }
    // What the contract lets through: members its schema strips were sent all the same, to a
    // plugin whose own copy of the contract keeps them (review 147: a row returned for `{ name }`
    // handed over its `passwordHash`). Not where the plugin's check of it would change it again
    // (resultToSend: review 151).
    const sent = checked?.success
      ? resultToSend(route.info.output, result, checked.data)
      : undefined;
    request.charge?.(performance.now() - began); // the plugin's share pays for its result's check
    if (!checked) {
      throw new ResponseError(ErrorCode.InternalError, `Capability "${method}" failed`, {
        name: "Error",
      });
    }
    if (!checked.success) {
      this.#report(new TypeError(`Capability "${method}" returned an invalid result`), method);
      throw new ResponseError(ErrorCode.InternalError, `Capability "${method}" failed`, {
        name: "Error",
      });
    }
    return sent;
  }

  /** The answer to a capability's failure; a failure whose reading throws is a plain one. */
  #failure(error: unknown, method: string, signal: AbortSignal): ResponseError {
    try {
      return this.#answerFailure(error, method, signal);
    } catch {
      // A CapabilityError whose `message` or `code` getter throws, a revoked Proxy (`instanceof`
      // throws): its reading's error was sent to the plugin as text (review 147).
      this.#report(error, method);
      return new ResponseError(ErrorCode.ApplicationError, `Capability "${method}" failed`, {
        name: "Error",
      });
    }
  }

  #answerFailure(error: unknown, method: string, signal: AbortSignal): ResponseError {
    if (error instanceof CapabilityError) {
      return new ResponseError(ErrorCode.ApplicationError, neutralize(error.message, 1000), {
        name: "CapabilityError",
        code: neutralize(error.code, 64),
      });
    }
    if (signal.aborted) {
      return new ResponseError(ErrorCode.RequestCancelled, "Request cancelled");
    }
    this.#report(error, method);
    return new ResponseError(ErrorCode.ApplicationError, `Capability "${method}" failed`, {
      name: "Error",
    });
  }

  #report(error: unknown, method: string): void {
    // A listener's fault (a throw, or a rejection) is not the plugin's answer.
    guarded(this.#options.onError)(error, method);
  }
}
