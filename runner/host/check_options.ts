/**
 * Checks every number a host passes in: timeouts must be ones `setTimeout`
 * can represent (it fires at once for anything above 2^31 - 1 ms, for
 * `Infinity` and for `NaN`), counts must be positive integers. A bad value
 * is a `TypeError` naming the option, before anything starts.
 * @module
 */

import { type Contract, methodsOf } from "../contract.ts";
import { neutralize } from "../wire/mod.ts";
import { messageOf } from "../thrown_text.ts";
import { refuseHiddenKeys } from "../sandbox/mod.ts";
import { MAX_SERVED, MAX_SERVED_NAMES } from "./handshake.ts";

/** The longest delay `setTimeout` honours: 2^31 - 1 ms, about 24.8 days. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Returns `value` when it is a finite number of milliseconds from `min` to
 * {@linkcode MAX_TIMEOUT_MS}, or `undefined` when it is `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMs } from "./check_options.ts";
 * assert.equal(checkMs("callTimeout", 500), 500);
 * assert.throws(() => checkMs("callTimeout", Infinity), TypeError);
 * assert.throws(() => checkMs("callTimeout", 2 ** 31), /"callTimeout" must be/);
 * ```
 * @throws {TypeError} naming the option.
 */
export function checkMs(option: string, value: number | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < min || value > MAX_TIMEOUT_MS
  ) {
    throw new TypeError(
      `"${option}" must be a number of milliseconds from ${min} to ${MAX_TIMEOUT_MS}, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/** Returns `value` when it is an integer from `min` to `max`, or `undefined` when it is `undefined`. */
export function checkCount(
  option: string,
  value: number | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(
      `"${option}" must be an integer from ${min} to ${max}, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/** Timeouts and counts of a start, as `startPlugin` takes them. */
export interface StartNumbers {
  startTimeout?: number;
  callTimeout?: number;
  cancelGraceMs?: number;
  stopGraceMs?: number;
  stopTermMs?: number;
  maxInFlight?: number;
  maxLineBytes?: number;
  maxCapabilityBytes?: number;
  capabilityTimeShare?: number;
  answerTimeShare?: number;
  maxQueuedBytes?: number;
  maxFaults?: number;
  faultWindowMs?: number;
  maxLogLinesPerSecond?: number;
  maxPartialLineMs?: number;
  maxProgressPerSecond?: number;
  streamWindow?: { items?: number; bytes?: number };
  signal?: AbortSignal;
}

/** A start's options that take a function. */
const LISTENERS = [
  "onLog",
  "onProtocolFault",
  "onUnresponsive",
  "onAudit",
  "onEgress",
  "onCapabilityError",
  "egressResolver",
] as const;

/**
 * Checks that each of `names` in `options` is a function or `undefined` (review 145: an `onLog`
 * of 5 was taken, and every log line went nowhere, its call's TypeError swallowed as a
 * listener's fault; an `egressResolver` of 5 failed each connection of the plugin's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFunctions } from "./check_options.ts";
 * checkFunctions({ onLog: () => {} }, ["onLog"]);
 * assert.throws(() => checkFunctions({ onLog: 5 }, ["onLog"]), /"onLog" must be a function, got number/);
 * ```
 * @throws {TypeError} naming the first option that is no function.
 */
export function checkFunctions(options: object, names: readonly string[]): void {
  for (const name of names) {
    const value = (options as Record<string, unknown>)[name];
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(
        `"${name}" must be a function, got ${value === null ? "null" : typeof value}`,
      );
    }
  }
}

/** Timeouts and counts of a managed plugin, on top of a start's. */
export interface ManagedNumbers extends StartNumbers {
  maxRestarts?: number;
  restartWindowMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  hotStandby?: boolean;
  restart?: string;
  whileRestarting?: string;
}

/**
 * Checks a start's options.
 * @throws {TypeError} naming the first bad option.
 */
export function checkStartNumbers(options: StartNumbers): void {
  for (
    const name of ["startTimeout", "callTimeout", "faultWindowMs", "maxPartialLineMs"] as const
  ) {
    checkMs(name, options[name], 1);
  }
  for (const name of ["cancelGraceMs", "stopGraceMs", "stopTermMs"] as const) {
    checkMs(name, options[name]);
  }
  checkCount("maxInFlight", options.maxInFlight, 1, 1_000_000);
  checkCount("maxLineBytes", options.maxLineBytes, 1024, 1024 * 1024 * 1024);
  checkCount("maxCapabilityBytes", options.maxCapabilityBytes, 1024, 1024 * 1024 * 1024);
  checkCount("maxQueuedBytes", options.maxQueuedBytes, 1024, 1024 * 1024 * 1024);
  checkCount("maxFaults", options.maxFaults, 0, 1_000_000);
  checkCount("maxLogLinesPerSecond", options.maxLogLinesPerSecond, 1, 1_000_000);
  checkShare("capabilityTimeShare", options.capabilityTimeShare);
  checkShare("answerTimeShare", options.answerTimeShare);
  checkSignal(options.signal);
  checkFunctions(options, LISTENERS);
  // Review 122: unchecked, a progress rate of NaN was no cap at all, and a stream window of 0,
  // NaN, -1, 1.5 or 1e308 items or bytes granted the plugin no credit (the SDK takes only a
  // positive safe integer): every stream hung until its call's deadline, with no word why.
  checkCount("maxProgressPerSecond", options.maxProgressPerSecond, 1, 1_000_000);
  const window: unknown = options.streamWindow;
  if (window === undefined) return;
  if (typeof window !== "object" || window === null || Array.isArray(window)) {
    throw new TypeError(
      `"streamWindow" must be an object of items and bytes, got ${
        window === null ? "null" : Array.isArray(window) ? "a list" : typeof window
      }`,
    );
  }
  const { items, bytes } = window as { items?: number; bytes?: number };
  checkCount("streamWindow.items", items, 1, 1_000_000);
  checkCount("streamWindow.bytes", bytes, 1, 1024 * 1024 * 1024);
}

/**
 * Returns `value` when it is a share of time, over 0 and at most 1, or
 * `undefined` when it is `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkShare } from "./check_options.ts";
 * assert.equal(checkShare("capabilityTimeShare", 0.5), 0.5);
 * assert.throws(() => checkShare("capabilityTimeShare", 0), /"capabilityTimeShare" must be/);
 * ```
 * @throws {TypeError} naming the option.
 */
export function checkShare(option: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0 && value <= 1)) {
    throw new TypeError(
      `"${option}" must be a share of time over 0 and at most 1, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/**
 * Checks a managed plugin's options, a start's included.
 * @throws {TypeError} naming the first bad option.
 */
export function checkManagedNumbers(options: ManagedNumbers): void {
  checkStartNumbers(options);
  for (const name of ["restartWindowMs", "backoffMaxMs", "healthTimeoutMs"] as const) {
    checkMs(name, options[name], 1);
  }
  checkMs("backoffInitialMs", options.backoffInitialMs);
  checkMs("healthIntervalMs", options.healthIntervalMs); // 0 turns health checks off
  checkCount("maxRestarts", options.maxRestarts, 0, 1_000_000);
  // Review 145: a policy misspelt ("always", or Docker's "no") was taken as "on-failure", and one
  // of "Fail" as "wait": the plugin came back, or its calls waited, against what its host wrote.
  checkChoice("restart", options.restart, ["never", "on-failure"]);
  checkChoice("whileRestarting", options.whileRestarting, ["wait", "fail"]);
  const standby: unknown = options.hotStandby;
  if (standby !== undefined && typeof standby !== "boolean") {
    throw new TypeError(`"hotStandby" must be true or false, got ${typeof standby}`);
  }
}

/**
 * The options a start takes, read once: their own enumerable members (as `PluginHost.start` reads
 * a managed plugin's) copied, `streamWindow`'s too. Every later read, the checks' and the uses',
 * sees the same value (review 122: checked, then read again from a getter or a Proxy, a value
 * that had turned to 0 or NaN made the plugin's constructor throw after its process was spawned,
 * which was left running with no handle to end it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readOnce } from "./check_options.ts";
 * let reads = 0;
 * const taken = readOnce("p", { get callTimeout() { return ++reads === 1 ? 500 : NaN; } });
 * assert.equal(taken.callTimeout, 500);
 * assert.equal(taken.callTimeout, 500);
 * assert.equal(reads, 1);
 * ```
 * @throws {TypeError} naming the plugin when `options` is no object or reading it throws.
 */
export function readOnce<T extends object>(module: string | URL, options: T): T {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot start plugin "${module}": its options must be an object`);
  }
  // What the copy below leaves out is refused, not taken for an option not given (review 167).
  refuseHiddenKeys(`Cannot start plugin "${module}"`, options);
  try {
    const taken = { ...options } as T & { streamWindow?: unknown };
    const window = taken.streamWindow;
    // A list is left one, to be refused as one (review 165: copied, `[]` was a window of defaults).
    if (typeof window === "object" && window !== null && !Array.isArray(window)) {
      taken.streamWindow = { ...window };
    }
    return taken;
  } catch (error) {
    throw new TypeError(
      `Cannot start plugin "${module}": reading its options threw: ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/**
 * Returns `signal` when it is an `AbortSignal`, `undefined` or `null` (no signal). Anything else
 * failed later, naming no option (review 122): a start as "throwIfAborted is not a function", a
 * host as "signal.addEventListener is not a function", a call as "Invalid value used as weak map
 * key" or, its answer come, "signal.removeEventListener is not a function".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSignal } from "./check_options.ts";
 * assert.equal(checkSignal(undefined), undefined);
 * assert.throws(() => checkSignal({ aborted: false } as never), /"signal" must be an AbortSignal/);
 * ```
 * @throws {TypeError} naming the option.
 */
export function checkSignal(signal: AbortSignal | null | undefined): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(`"signal" must be an AbortSignal, got ${typeof signal}`);
  }
  return signal;
}

/**
 * Returns `value` when it is one of `choices`, or `undefined` when it is `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkChoice } from "./check_options.ts";
 * assert.equal(checkChoice("restart", "never", ["never", "on-failure"]), "never");
 * assert.throws(() => checkChoice("restart", "always", ["never", "on-failure"]), /"restart" must be/);
 * ```
 * @throws {TypeError} naming the option and its choices.
 */
export function checkChoice<T extends string>(
  option: string,
  value: unknown,
  choices: readonly T[],
): T | undefined {
  if (value === undefined || (choices as readonly unknown[]).includes(value)) {
    return value as T | undefined;
  }
  const got = typeof value === "string" ? `"${neutralize(value, 64)}"` : typeof value;
  const listed = choices.map((choice) => `"${choice}"`).join(" or ");
  throw new TypeError(`"${option}" must be ${listed}, got ${got}`);
}

/**
 * Checks the lists a start takes, and keeps copies of them: `contracts`, at least one object, and
 * `capabilities`, when given, a list of objects (what `provide()` made). An entry left out (a
 * hole, `undefined`, `null`) failed deep inside (review 145): a contract as "Cannot define
 * contract: the definition must be an object", naming no list and no place in it, and
 * capabilities that were no list as "provided is not iterable".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineContract } from "../contract.ts";
 * import { takeLists } from "./check_options.ts";
 * import { z } from "zod";
 * const Echo = defineContract({
 *   name: "echo",
 *   version: 1,
 *   methods: { echo: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * assert.throws(() => takeLists("p", { contracts: [, Echo] }), /"contracts\[0\]" must be a contract/);
 * assert.throws(() => takeLists("p", { contracts: [Echo], capabilities: {} }), /"capabilities" must be/);
 * ```
 * @throws {TypeError} naming the plugin, the list and the place in it.
 */
export function takeLists(
  module: string | URL,
  options: { contracts?: unknown; capabilities?: unknown },
): void {
  const refuse = (detail: string): never => {
    throw new TypeError(`Cannot start plugin "${module}": ${detail}`);
  };
  const what = (value: unknown) => value === null ? "null" : typeof value;
  const { contracts, capabilities } = options;
  const listed = Array.isArray(contracts) ? copied("contracts", contracts, refuse) : [];
  if (listed.length === 0) refuse(`"contracts" must list at least one contract`);
  listed.forEach((contract, i) => {
    if (typeof contract !== "object" || contract === null) {
      refuse(
        `"contracts[${i}]" must be a contract made by defineContract(), got ${what(contract)}`,
      );
    }
  });
  // As many as a handshake answer may list, or every start ended in a ProtocolError blaming the
  // plugin (review 145).
  const distinct = new Set(listed as Contract[]);
  const names = [...distinct].reduce((sum, contract) => sum + methodsOf(contract).size, 0);
  if (distinct.size > MAX_SERVED || names > MAX_SERVED_NAMES) {
    refuse(
      `"contracts" must list at most ${MAX_SERVED} contracts of ${MAX_SERVED_NAMES} methods in all, as a plugin's handshake may (got ${distinct.size} of ${names})`,
    );
  }
  options.contracts = listed;
  if (capabilities === undefined) return;
  if (!Array.isArray(capabilities)) {
    refuse(`"capabilities" must be a list of what provide() made, got ${what(capabilities)}`);
  }
  const provided = copied("capabilities", capabilities as unknown[], refuse);
  provided.forEach((entry, i) => {
    if (typeof entry !== "object" || entry === null) {
      refuse(`"capabilities[${i}]" must be what provide() made, got ${what(entry)}`);
    }
  });
  options.capabilities = provided;
}

/** A list's copy; a Proxy's or a getter's throw is a TypeError naming the list (review 165). */
function copied(name: string, list: unknown[], refuse: (detail: string) => never): unknown[] {
  try {
    return Array.from(list);
  } catch (error) {
    return refuse(
      `reading "${name}" threw: ${neutralize(messageOf(error), 300)}`,
    );
  }
}
