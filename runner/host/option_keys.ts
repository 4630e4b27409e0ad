/**
 * The names a start's and a managed start's options may have: a misspelt
 * one is refused by name, with the closest known name, instead of taken for
 * "not given" (review 165: `callTimout` ran every call under the default
 * 30 s, `lokc: { path }` started a plugin no lock had approved).
 * @module
 */

import {
  LAUNCH_KEYS,
  type LaunchOptions,
  refuseUnknownKeys,
  refuseUnknownOptions,
} from "../sandbox/mod.ts";
import type { StartOptions } from "./start_options.ts";
import type { ManagedOptions } from "./managed_types.ts";
import type { PluginHostOptions } from "./manager.ts";

/** A start's own options, beside the launch's (the compiler keeps the list whole and exact). */
const SESSION: Record<Exclude<keyof StartOptions, keyof LaunchOptions>, true> = {
  contracts: true,
  startTimeout: true,
  callTimeout: true,
  maxInFlight: true,
  maxLineBytes: true,
  maxCapabilityBytes: true,
  capabilityTimeShare: true,
  answerTimeShare: true,
  maxQueuedBytes: true,
  maxFaults: true,
  faultWindowMs: true,
  cancelGraceMs: true,
  stopGraceMs: true,
  stopTermMs: true,
  onLog: true,
  maxPartialLineMs: true,
  maxLogLinesPerSecond: true,
  onProtocolFault: true,
  onUnresponsive: true,
  onAudit: true,
  onEgress: true,
  egressResolver: true,
  capabilities: true,
  onCapabilityError: true,
  streamWindow: true,
  maxProgressPerSecond: true,
};

/** A managed plugin's own options, beside a start's. */
const MANAGED: Record<Exclude<keyof ManagedOptions, keyof StartOptions>, true> = {
  restart: true,
  maxRestarts: true,
  restartWindowMs: true,
  backoffInitialMs: true,
  backoffMaxMs: true,
  whileRestarting: true,
  healthIntervalMs: true,
  healthTimeoutMs: true,
  hotStandby: true,
};

/** Every option `startPlugin` takes. */
export const START_KEYS: readonly string[] = [...LAUNCH_KEYS, ...Object.keys(SESSION)];
/** The options only a managed plugin takes: what its starts leave out. */
export const MANAGED_ONLY_KEYS: readonly string[] = Object.keys(MANAGED);
/** Every option `PluginHost.start` takes. */
export const MANAGED_KEYS: readonly string[] = [...START_KEYS, ...MANAGED_ONLY_KEYS];
/** Every option `new PluginHost()` takes. */
export const HOST_KEYS: readonly string[] = Object.keys(
  { onLog: 1, onEvent: 1, handleSignals: 1, defaults: 1 } satisfies Record<
    keyof PluginHostOptions,
    1
  >,
);

/**
 * Refuses a misspelt option of a start (or, with `known`, a managed start's): its own keys,
 * those of its option objects, and `streamWindow`'s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseUnknownStartOptions } from "./option_keys.ts";
 * assert.throws(
 *   () => refuseUnknownStartOptions("Cannot start plugin", { contracts: [], callTimout: 5 }),
 *   /unknown option "callTimout" \(did you mean "callTimeout"\?\)/,
 * );
 * ```
 * @throws {TypeError} naming the key, after `what`.
 */
export function refuseUnknownStartOptions(
  what: string,
  options: object,
  known: readonly string[] = START_KEYS,
): void {
  refuseUnknownOptions(what, options, known);
  const window: unknown = (options as { streamWindow?: unknown }).streamWindow;
  if (typeof window === "object" && window !== null) {
    refuseUnknownKeys(what, window, ["items", "bytes"], "streamWindow.");
  }
}
