/**
 * Plugin side: the typed `ctx.host` object (capability calls to the host,
 * each carrying its call's signal) and `ctx.progress`.
 * @module
 */

import {
  type CallContext,
  capabilitiesOf,
  type Contract,
  type HostApi,
  type MethodInfo,
} from "../contract.ts";
import {
  type CapabilityParams,
  type ProgressParams,
  type RequestId,
  ResponseError,
  RuntimeMethod,
  utf8Length,
  wireMethod,
} from "../wire/mod.ts";

/**
 * A capability call the host refused or failed: `code` is the JSON-RPC
 * code, `message` what the host chose to say (never its internals).
 *
 * @example
 * ```ts ignore
 * try {
 *   await ctx.host.fetch({ url: "https://elsewhere.example/" });
 * } catch (error) {
 *   if (error instanceof HostError) console.error(error.code, error.message);
 * }
 * ```
 */
export class HostError extends Error {
  /** Always `"HostError"`. */
  override name = "HostError" as const;
  /** The JSON-RPC error code the host answered with. */
  readonly code: number;
  /** The `name` the host gave the failure (`"CapabilityError"`, `"ValidationError"`, ...). */
  readonly remoteName: string;

  /** Builds the error; see the class for what each field means. */
  constructor(code: number, message: string, remoteName = "Error", options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.remoteName = remoteName;
  }
}

/** What the plugin side needs of its connection to the host. */
export interface HostLink {
  /** Sends a request to the host. */
  request(method: string, params: unknown, options: { signal?: AbortSignal }): Promise<unknown>;
  /** Sends a notification; never throws. */
  notify(method: string, params: unknown): void;
  /** Progress reports the host takes per call per second (absent: no limit). */
  progressPerSecond?(): number;
  /** Whether the host's request `id` is still being handled (not yet answered); absent: yes. */
  handling?(id: RequestId): boolean;
  /**
   * Whether a progress report whose value is `bytes` of JSON may go now,
   * within the bytes a second the host takes from all calls (absent: no limit).
   */
  takeProgress?(bytes: number): boolean;
}

function toHostError(error: unknown): unknown {
  if (!(error instanceof ResponseError)) return error;
  const data = error.data as { name?: unknown } | undefined;
  const name = typeof data?.name === "string" ? data.name : "Error";
  return new HostError(error.code, error.message, name, { cause: error });
}

/** Builds the typed host object for one call (or none, at top level). */
export function hostApi<C extends Contract>(
  contract: C,
  link: HostLink,
  signal: AbortSignal | undefined,
  call: RequestId | undefined,
): HostApi<C> {
  const api: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, info] of capabilitiesOf(contract)) {
    api[name] = (...args) =>
      callHost(link, wireMethod(contract.name, name), info, args, {
        signal,
        call,
      });
  }
  return Object.freeze(api) as unknown as HostApi<C>;
}

async function callHost(
  link: HostLink,
  method: string,
  info: MethodInfo,
  args: unknown[],
  origin: { signal: AbortSignal | undefined; call: RequestId | undefined },
): Promise<unknown> {
  const checked = info.input.safeParse(args);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new TypeError(
      `Cannot call the host's "${method}": invalid argument at [${
        issue?.path.join("][")
      }]: ${issue?.message}`,
    );
  }
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const params: CapabilityParams = { args: args.slice(0, end) };
  if (origin.call !== undefined) params.call = origin.call;
  let raw: unknown;
  try {
    raw = await link.request(method, params, { signal: origin.signal });
  } catch (error) {
    throw toHostError(error);
  }
  let result = info.output.safeParse(raw);
  // JSON has no undefined: a void result travels as null.
  if (!result.success && raw === null) result = info.output.safeParse(undefined);
  if (result.success) return result.data;
  throw new HostError(-32603, `The host's answer to "${method}" does not match the contract`);
}

/** The context a handler receives: its signal, the host's capabilities, progress. */
export class HandlerContext implements CallContext {
  /** Aborted when the host cancels the call or goes away; an own property, so `{ ...ctx }` keeps it. */
  readonly signal: AbortSignal;
  #contract: Contract;
  #link: HostLink;
  #id: RequestId;
  #progress: MethodInfo["progress"];
  #host: HostApi<Contract> | undefined;
  /** The second of the reports counted in `#sent`. */
  #second = 0;
  #sent = 0;

  constructor(
    contract: Contract,
    link: HostLink,
    request: { id: RequestId; signal: AbortSignal },
    progress: MethodInfo["progress"],
  ) {
    this.signal = request.signal;
    this.#contract = contract;
    this.#link = link;
    this.#id = request.id;
    this.#progress = progress;
  }

  /** Made on first use: most handlers never call the host. */
  get host(): HostApi<Contract> {
    return this.#host ??= hostApi(this.#contract, this.#link, this.signal, this.#id);
  }

  /** A function, so a handler may take it out of the context (`{ progress }`). */
  get progress(): (value: unknown) => void {
    return (value) => this.#report(value);
  }

  #report(value: unknown): void {
    if (this.#progress) {
      const checked = this.#progress.safeParse(value);
      if (!checked.success) {
        throw new TypeError(
          `Cannot report progress: ${checked.error.issues[0]?.message ?? "invalid"}`,
        );
      }
    }
    // Answered, its progress is for no call: dropped here, where the host counted each report a
    // fault, and a reporter its handler left running ended an honest plugin (review 147).
    if (this.signal.aborted || this.#link.handling?.(this.#id) === false) return;
    // Past the host's rate it drops reports and counts them as work for nothing: dropped here,
    // they cost neither side (review 65: a fast loop's report per item ended an honest plugin).
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#sent = 0;
    }
    if (++this.#sent > (this.#link.progressPerSecond?.() ?? Infinity)) return;
    if (
      this.#link.takeProgress && !this.#link.takeProgress(utf8Length(JSON.stringify(value) ?? ""))
    ) {
      return;
    }
    this.#link.notify(RuntimeMethod.progress, { id: this.#id, value } satisfies ProgressParams);
  }
}
