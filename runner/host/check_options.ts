/**
 * Checks every number a host passes in: timeouts must be ones `setTimeout`
 * can represent (it fires at once for anything above 2^31 - 1 ms, for
 * `Infinity` and for `NaN`), counts must be positive integers. A bad value
 * is a `TypeError` naming the option, before anything starts.
 * @module
 */

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
  maxQueuedBytes?: number;
  maxFaults?: number;
  faultWindowMs?: number;
  maxLogLinesPerSecond?: number;
  maxPartialLineMs?: number;
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
  const standby: unknown = options.hotStandby;
  if (standby !== undefined && typeof standby !== "boolean") {
    throw new TypeError(`"hotStandby" must be true or false, got ${typeof standby}`);
  }
}
