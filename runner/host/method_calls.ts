/**
 * The calls of the typed API that need more than a request and its answer:
 * a streamed result ({@linkcode streamCall}) and a call whose progress is
 * reported, and may extend its deadline ({@linkcode progressCall}).
 * @module
 */

import type { ItemStream, MethodCallOptions, MethodInfo } from "../contract.ts";
import { TimeoutError, ValidationError } from "../errors.ts";
import type { CallChannel } from "./call_channels.ts";
import { checkMs, checkSignal, MAX_TIMEOUT_MS } from "./check_options.ts";
import { refuseUnknownKeys } from "../sandbox/mod.ts";
import { HostItemStream } from "./item_stream.ts";
import type { CallOptions, CallTarget } from "./proxy.ts";
import { toIssues } from "./answer_errors.ts";
import { parseUntrusted } from "../untrusted_parse.ts";
import { guarded } from "./listener.ts";
import { findSchema, oncePerSchema } from "../schema_walk.ts";
import { valuesIn } from "../wire/mod.ts";
import type { z } from "npm:zod@^4.1.0";

/** Zod's kinds of schema whose output is no part of what was sent: a transform's, a pipe's. */
const TRANSFORMING = new Set(["transform", "pipe"]);
/**
 * Whether `schema` holds a transform or a pipe anywhere, so that its output may differ from what
 * was sent other than by strips; looked at once per schema.
 */
export const transformsIn = oncePerSchema((schema) =>
  findSchema(schema, (def) => TRANSFORMING.has(def.type as string)) !== undefined
);

/** A check of zod's that rewrites what it checks: `.overwrite(fn)`, and `.trim()`, `.toLowerCase()`... */
function rewrites(check: unknown): boolean {
  return (check as { _zod?: { def?: { check?: unknown } } } | null)?._zod?.def?.check ===
    "overwrite";
}

/** Whether `schema` holds a check that rewrites its value anywhere; looked at once per schema. */
export const rewritesIn = oncePerSchema((schema) =>
  findSchema(schema, (def) => Array.isArray(def.checks) && def.checks.some(rewrites)) !== undefined
);

/**
 * What of a capability's `result` goes to the plugin, given `data`, its schema's output: `data`
 * (the members its schema strips left out: review 147), unless the plugin's own check of it, with
 * the same contract, would not give it back unchanged. A schema that transforms sends `result`,
 * as returned; one that rewrites (`.overwrite`) sends `data` only where a second check changes
 * nothing (a trimmed name trimmed again): review 151, `units => units * 100` sent rewritten was
 * rewritten again by the SDK, an honest plugin read 30,000 cents for 300.
 */
export function resultToSend(schema: z.ZodType, result: unknown, data: unknown): unknown {
  if (transformsIn(schema)) return result;
  if (!rewritesIn(schema)) return data;
  try {
    const again = schema.safeParse(data);
    if (again.success && JSON.stringify(again.data) === JSON.stringify(data)) return data;
  } catch {
    // Its own code threw on what it made, or `data` has no JSON: sent as returned, as before.
  }
  return result;
}

/** The options a target's `call` receives from the typed API. */
export interface ChannelOptions extends CallOptions {
  /** The call's side channel: stream items and progress. */
  channel?: CallChannel;
}

/** One method of one contract, as the typed API calls it. */
export interface MethodSite {
  contract: string;
  method: string;
  wire: string;
  info: MethodInfo;
  target: CallTarget;
  /** Maps a wire error to the caller's error. */
  mapError(error: unknown): unknown;
  /** Told what checking what the plugin sent took of the host's thread (proxy.ts CHARGE_CHECK). */
  charge?: (ms: number) => void;
}

/** Every per-call option (the compiler keeps the list whole and exact). */
const CALL_KEYS = Object.keys(
  {
    signal: 1,
    timeout: 1,
    onProgress: 1,
    resetTimeoutOnProgress: 1,
    maxTotalTimeout: 1,
  } satisfies Record<keyof MethodCallOptions<never>, 1>,
);

/** Checks per-call options once, when `.with(options)` is called. */
export function checkCallOptions(options: MethodCallOptions<never>): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Per-call options must be an object");
  }
  // `{ onProgres }` was taken for no listener, and every report went nowhere (review 165).
  refuseUnknownKeys("Cannot call with these options", options, CALL_KEYS);
  checkMs("timeout", options.timeout);
  checkMs("maxTotalTimeout", options.maxTotalTimeout);
  checkSignal(options.signal);
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw new TypeError(`"onProgress" must be a function`);
  }
  if (options.resetTimeoutOnProgress && options.timeout === undefined) {
    throw new TypeError(`"resetTimeoutOnProgress" needs a "timeout" to reset`);
  }
}

/**
 * Delivers valid progress reports to `onProgress` while `live()`, and says
 * whether it did, with the values of it the listener got (to `limit`: what
 * the schema kept, or what was sent where it transforms, whose output is
 * no measure of it); a listener's throw is its own. A call its caller left (aborted, timed out,
 * a stream broken off) stays open until the plugin answers it, and what
 * the plugin reports meanwhile is for no one (review 90: each late report
 * reached the listener, and re-armed the idle timer the call's end had
 * cleared).
 */
function progressListener(
  site: MethodSite,
  onProgress: ((value: unknown) => void) | undefined,
  onEach: () => void,
  live: () => boolean,
): (raw: unknown, limit: number) => number | false {
  const report = guarded(onProgress);
  const schema = site.info.progress;
  return (raw, limit) => {
    if (!live()) return false;
    const checked = schema ? parseUntrusted(schema, raw) : undefined;
    if (checked && !checked.success) return false;
    onEach();
    const got = checked ? checked.data : raw;
    // Counted before the listener may change it.
    const kept = valuesIn(schema && transformsIn(schema) ? raw : got, limit);
    // The host's listener failing, or its promise rejecting, is not the call failing.
    report(got);
    return kept;
  };
}

/**
 * A call with `onProgress` or `resetTimeoutOnProgress`: each valid report
 * goes to the listener and, when asked, restarts the `timeout`; the call
 * never outlives `maxTotalTimeout`.
 */
export function progressCall(
  site: MethodSite,
  params: unknown[],
  options: MethodCallOptions & CallOptions,
): Promise<unknown> {
  const reset = options.resetTimeoutOnProgress === true;
  const idleMs = options.timeout!;
  const idle = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  const arm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() =>
      idle.abort(
        new TimeoutError({
          plugin: site.target.name,
          operation: "call",
          method: site.wire,
          timeoutMs: idleMs,
          hint: "no progress was reported within it",
        }),
      ), idleMs);
  };
  const channel: CallChannel = {
    progress: progressListener(site, options.onProgress, () => reset && arm(), () => !done),
  };
  const call: ChannelOptions = { ...options, channel };
  if (reset) {
    arm();
    call.timeout = Math.min(options.maxTotalTimeout ?? idleMs * 10, MAX_TIMEOUT_MS);
    call.signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  }
  let answer: Promise<unknown>;
  try {
    answer = site.target.call(site.wire, params, call);
  } catch (error) {
    answer = Promise.reject(error);
  }
  return answer.finally(() => {
    done = true;
    clearTimeout(timer);
  }).catch((error) => {
    throw site.mapError(error);
  });
}

/**
 * Starts a streaming call: the items arrive on the returned stream, each
 * validated against the item schema; the call's deadline and signal apply
 * to the whole stream.
 */
export function streamCall(
  site: MethodSite,
  params: unknown[],
  options: MethodCallOptions & CallOptions,
): ItemStream<unknown> {
  const item = site.info.item!;
  const validate = (value: unknown) => {
    const checked = parseUntrusted(item, value);
    if (checked.success) return checked.data;
    throw new ValidationError({
      contract: site.contract,
      method: site.method,
      direction: "output",
      issues: toIssues(checked.error.issues),
      plugin: site.target.name,
    }, "threw" in checked ? { cause: checked.threw } : undefined);
  };
  const cancel = new AbortController();
  const stream = new HostItemStream(validate, cancel, site.charge);
  let done = false;
  const channel: CallChannel = {
    open: (grant, window) => stream.open(grant, window),
    item: (read, bytes) => stream.item(read, bytes),
    progress: options.onProgress
      ? progressListener(site, options.onProgress, () => {}, () => !cancel.signal.aborted && !done)
      : undefined,
  };
  const signal = options.signal ? AbortSignal.any([options.signal, cancel.signal]) : cancel.signal;
  let answer: Promise<unknown>;
  try {
    answer = site.target.call(site.wire, params, { ...options, signal, channel } as ChannelOptions);
  } catch (error) {
    answer = Promise.reject(error);
  }
  stream.settle(
    answer.finally(() => done = true).catch((error) => {
      throw site.mapError(error);
    }),
  );
  return stream;
}
