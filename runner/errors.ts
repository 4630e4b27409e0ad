/**
 * The error classes a host is expected to catch. Each has a stable `name`,
 * accepts `ErrorOptions`, and carries structured fields besides its message.
 * Bad arguments from the host's own code are `TypeError`s instead.
 * @module
 */

/**
 * How a plugin process ended, as plugbox observed it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeExit, type ExitStatus } from "./errors.ts";
 *
 * const status: ExitStatus = {
 *   code: null,
 *   signal: "SIGKILL",
 *   reason: "killed",
 *   stderrTail: "",
 * };
 * assert.equal(describeExit(status), "was killed by plugbox (signal SIGKILL)");
 * ```
 */
export interface ExitStatus {
  /** Exit code, or `null` when the process died from a signal. */
  code: number | null;
  /** The signal that ended the process, if any. */
  signal: Deno.Signal | null;
  /**
   * Why it ended, from plugbox's own bookkeeping rather than the code alone:
   * `"exited"` on its own, `"stopped"` by a graceful stop, `"killed"` by
   * plugbox (after a grace period, a deadline or a fault), `"out-of-memory"`
   * when V8 or the memory limit ended it, `"cpu-limit"` when plugbox ended
   * it for using up its CPU time (`cpu.totalMs`).
   */
  reason: "exited" | "stopped" | "killed" | "out-of-memory" | "cpu-limit";
  /** The last lines the plugin wrote to stderr (bounded, escapes neutralised). */
  stderrTail: string;
  /**
   * Only when something of the plugin could not be taken down: the cgroups
   * still holding a process that outlived every SIGKILL for half a second
   * (stuck in the kernel, or frozen by someone else), at the stop. plugbox
   * tries again in the background for about an hour, so the folders go once
   * those processes end; a process that never ends is left for the
   * machine's owner.
   */
  leftBehind?: string[];
}

/**
 * Describes an exit for a message: `exited with code 1`, `was killed by plugbox (signal SIGKILL)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeExit } from "./errors.ts";
 *
 * const message = describeExit({ code: 1, signal: null, reason: "exited", stderrTail: "" });
 * assert.equal(message, "exited with code 1");
 * ```
 */
export function describeExit(status: ExitStatus): string {
  const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
  switch (status.reason) {
    case "stopped":
      return `was stopped (${how})`;
    case "killed":
      return `was killed by plugbox (${how})`;
    case "out-of-memory":
      return `ran out of memory (${how})`;
    case "cpu-limit":
      return `used up its CPU time and was killed by plugbox (${how})`;
    default:
      return status.signal ? `died from ${how}` : `exited with ${how}`;
  }
}

function withTail(message: string, tail: string): string {
  return tail ? `${message}\n--- stderr tail ---\n${tail}` : message;
}

/**
 * What the plugin reported, as the plugin reported it: a claim, never one
 * of plugbox's own verdicts (THREATS T22). Every string in it came from the plugin
 * and is neutralised to one line; `reportedBy` is always `"plugin"` and the
 * message says "reports". plugbox's own checks use other classes
 * ({@linkcode ValidationError}, {@linkcode ProtocolError},
 * {@linkcode PreflightError}, {@linkcode PluginExitedError}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginError } from "./errors.ts";
 * const error = new PluginError("RangeError", "too big", {
 *   plugin: "calc", method: "calc.divide", code: -32000,
 * });
 * assert.ok(error.name === "PluginError" && error.remoteName === "RangeError");
 * assert.equal(error.message, 'Plugin "calc" reports "calc.divide" failed: RangeError: too big');
 * ```
 */
export class PluginError extends Error {
  /** `"PluginError"`, or a subclass's name. */
  override name: "PluginError" | "PermissionDeniedError" = "PluginError";
  /** Always `"plugin"`: the content is the plugin's claim. */
  readonly reportedBy = "plugin" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** The wire method that failed, `contract.method`. */
  readonly method: string;
  /** The JSON-RPC error code the plugin sent. */
  readonly code: number;
  /** The `name` of the error thrown in the plugin, as the plugin reported it. */
  readonly remoteName: string;
  /**
   * The JSON-RPC `data` member, as the plugin sent it (untrusted; neutralise
   * before showing); undefined when its JSON is over about 64 KiB. Not
   * enumerable, so an inspected or logged error does not print it.
   */
  declare readonly data: unknown;
  /** Issues the plugin reported with arguments or its result (`-32602`, `-32002`), neutralised. */
  readonly issues: ValidationIssue[];

  /** Builds the error; see the class for what each field means. */
  constructor(
    remoteName: string,
    remoteMessage: string,
    fields: {
      plugin: string;
      method: string;
      code: number;
      data?: unknown;
      issues?: ValidationIssue[];
    },
    options?: ErrorOptions,
  ) {
    super(
      `Plugin "${fields.plugin}" reports "${fields.method}" failed: ${remoteName}: ${remoteMessage}`,
      options,
    );
    this.plugin = fields.plugin;
    this.method = fields.method;
    this.code = fields.code;
    this.remoteName = remoteName;
    Object.defineProperty(this, "data", { value: fields.data, enumerable: false });
    this.issues = fields.issues ?? [];
  }
}

/**
 * The peer broke the protocol: framing, envelope, handshake or limits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "./errors.ts";
 * const error = new ProtocolError("greeter", "line exceeds the cap");
 * assert.ok(error.message === 'Plugin "greeter" broke the protocol: line exceeds the cap');
 * ```
 */
export class ProtocolError extends Error {
  /** Always `"ProtocolError"`. */
  override name = "ProtocolError" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** What was wrong, without the plugin prefix. */
  readonly detail: string;
  /** The plugin's recent stderr, when known. */
  readonly stderrTail: string;

  /** Builds the error; see the class for what each field means. */
  constructor(plugin: string, detail: string, options?: ErrorOptions & { stderrTail?: string }) {
    super(
      withTail(`Plugin "${plugin}" broke the protocol: ${detail}`, options?.stderrTail ?? ""),
      options,
    );
    this.plugin = plugin;
    this.detail = detail;
    this.stderrTail = options?.stderrTail ?? "";
  }
}

/**
 * The plugin process ended while a call was pending or before one was made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginExitedError } from "./errors.ts";
 * const error = new PluginExitedError("greeter", {
 *   code: 1, signal: null, reason: "exited", stderrTail: "boom",
 * });
 * assert.ok(error.exitCode === 1 && error.stderrTail === "boom");
 * ```
 */
export class PluginExitedError extends Error {
  /** Always `"PluginExitedError"`. */
  override name = "PluginExitedError" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** The wire method that was pending, if the error belongs to a call. */
  readonly method: string | undefined;
  /** Exit code, or `null` after a signal. */
  readonly exitCode: number | null;
  /** The signal that ended the process, if any. */
  readonly signal: Deno.Signal | null;
  /** Why the process ended; see {@linkcode ExitStatus.reason}. */
  readonly reason: ExitStatus["reason"];
  /** The plugin's recent stderr. */
  readonly stderrTail: string;

  /** Builds the error; see the class for what each field means. */
  constructor(
    plugin: string,
    status: ExitStatus,
    options?: ErrorOptions & { method?: string; hint?: string },
  ) {
    const what = options?.method
      ? `Cannot call "${options.method}" on plugin "${plugin}": process ${describeExit(status)}`
      : `Plugin "${plugin}" process ${describeExit(status)}`;
    super(withTail(options?.hint ? `${what}: ${options.hint}` : what, status.stderrTail), options);
    this.plugin = plugin;
    this.method = options?.method;
    this.exitCode = status.code;
    this.signal = status.signal;
    this.reason = status.reason;
    this.stderrTail = status.stderrTail;
  }
}

/**
 * Which of plugbox's steps before the plugin refused its start, and why: see
 * {@linkcode StartRefusedError}.
 *
 * @example
 * ```ts
 * import type { StartRefusalReason } from "./errors.ts";
 * const reason: StartRefusalReason = "task-budget";
 * console.log(reason);
 * ```
 */
export type StartRefusalReason =
  | "task-budget"
  | "no-task-budget"
  | "limits"
  | "cgroups"
  | "descriptors"
  | "sandbox"
  | "launcher";

/**
 * What plugbox's refusal of a start says: see {@linkcode StartRefusedError}'s fields.
 *
 * @example
 * ```ts
 * import type { StartRefusal } from "./errors.ts";
 * const refusal: StartRefusal = { reason: "limits", detail: "sh cannot forbid core dumps" };
 * console.log(refusal.reason);
 * ```
 */
export interface StartRefusal {
  /** Which of plugbox's steps refused, and why. */
  reason: StartRefusalReason;
  /** plugbox's words, with what to do where there is something. */
  detail: string;
  /** For `"task-budget"`: the tasks every plugin on the machine shares. */
  budget?: number;
  /** For `"task-budget"`: how many of them the other plugins running reserve. */
  reserved?: number;
  /** For `"task-budget"`: this plugin's cap, which did not fit. */
  cap?: number;
  /** For `"task-budget"`: how many other plugins were running. */
  others?: number;
}

/**
 * plugbox refused to start the plugin, before it ran: its own verdict, never the plugin's words
 * (THREATS T22). `reason` says which step: `"task-budget"` (the tasks every plugin on the machine
 * shares cannot hold this plugin's cap: `budget`, `reserved` by the `others` running, and `cap`),
 * `"no-task-budget"` (the pids cgroups' folder has no limit to share), `"limits"` (a process limit
 * could not be set), `"cgroups"` (the plugin's cgroups could not be made, joined or opened),
 * `"descriptors"` (the host holds an inherited descriptor that cannot be closed), `"sandbox"` (the
 * seccomp filter could not be opened), `"launcher"` (plugbox's launcher could not confine the
 * plugin). Only a line written before the plugin's exec makes one (start_verdict.ts): a plugin
 * that prints the same words and exits 125 is a {@linkcode PluginExitedError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StartRefusedError } from "./errors.ts";
 * const error = new StartRefusedError("calc", {
 *   reason: "task-budget", detail: "stop a plugin", budget: 100, reserved: 60, cap: 41, others: 1,
 * });
 * assert.ok(error.name === "StartRefusedError" && error.reportedBy === "plugbox");
 * assert.equal(error.message, 'Cannot start plugin "calc": plugbox refused it (task-budget): stop a plugin');
 * ```
 */
export class StartRefusedError extends Error {
  /** Always `"StartRefusedError"`. */
  override name = "StartRefusedError" as const;
  /** Always `"plugbox"`: the verdict is plugbox's own, never the plugin's. */
  readonly reportedBy = "plugbox" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** Which step refused; see the class. */
  readonly reason: StartRefusalReason;
  /** plugbox's words: what failed, and what to do where there is something. */
  readonly detail: string;
  /** For `"task-budget"`: the tasks (processes and threads) every plugin on the machine shares. */
  readonly budget: number | undefined;
  /** For `"task-budget"`: how many of them the other plugins running reserve. */
  readonly reserved: number | undefined;
  /** For `"task-budget"`: this plugin's cap (`cpu.maxTasks`, or its share), which did not fit. */
  readonly cap: number | undefined;
  /** For `"task-budget"`: how many other plugins were running. */
  readonly others: number | undefined;

  /** Builds the error; see the class for what each field means. */
  constructor(
    plugin: string,
    fields: StartRefusal,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot start plugin "${plugin}": plugbox refused it (${fields.reason}): ${fields.detail}`,
      options,
    );
    this.plugin = plugin;
    this.reason = fields.reason;
    this.detail = fields.detail;
    this.budget = fields.budget;
    this.reserved = fields.reserved;
    this.cap = fields.cap;
    this.others = fields.others;
  }
}

/**
 * The plugin reports it needed a permission it was not granted (it caught
 * `Deno.errors.NotCapable`). plugbox does not observe the denial: Deno
 * enforces it inside the plugin, and this is the plugin's word for it, so
 * it is a {@linkcode PluginError} (THREATS T22), its fields are the plugin's
 * neutralised words, and its message says "reports".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PermissionDeniedError, PluginError } from "./errors.ts";
 * const error = new PermissionDeniedError({ plugin: "hello", permission: "read", target: "/etc/hostname" });
 * assert.ok(error.permission === "read" && error.target === "/etc/hostname");
 * assert.ok(error instanceof PluginError && error.reportedBy === "plugin");
 * ```
 */
export class PermissionDeniedError extends PluginError {
  /** Always `"PermissionDeniedError"`. */
  override name = "PermissionDeniedError" as const;
  /** The Deno permission kind: `read`, `write`, `net`, `env`, `sys`, `run`, `ffi`, `import`. */
  readonly permission: string;
  /** What was asked for (a path, host:port, variable), when the plugin said. */
  readonly target: string | undefined;

  /** Builds the error; see the class for what each field means. */
  constructor(
    fields: {
      plugin: string;
      permission: string;
      target?: string;
      method?: string;
      code?: number;
      remoteName?: string;
      data?: unknown;
    },
    options?: ErrorOptions & { detail?: string },
  ) {
    const target = fields.target === undefined ? "" : ` to "${fields.target}"`;
    const during = fields.method ? ` during "${fields.method}"` : "";
    const detail = options?.detail ? `: ${options.detail}` : "";
    super(fields.remoteName ?? "NotCapable", "", {
      plugin: fields.plugin,
      method: fields.method ?? "",
      code: fields.code ?? -32001,
      data: fields.data,
    }, options);
    this.message =
      `Plugin "${fields.plugin}" reports it was denied ${fields.permission} access${target}${during}${detail}`;
    this.permission = fields.permission;
    this.target = fields.target;
  }
}

/**
 * One problem found by a schema, path first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError, type ValidationIssue } from "./errors.ts";
 *
 * const issue: ValidationIssue = { path: [0, "name"], message: "Expected string" };
 * const error = new ValidationError({
 *   contract: "users", method: "add", direction: "input", issues: [issue],
 * });
 * assert.deepEqual(error.path, [0, "name"]);
 * ```
 */
export interface ValidationIssue {
  /** Where: argument index first, then property names and indices. */
  path: (string | number)[];
  /** What is wrong, in zod's words. */
  message: string;
  /** zod's issue code, such as `invalid_type`. */
  code?: string;
}

/** A key a path shows bare: one that cannot read as words of the message around it. */
const BARE_KEY = /^[A-Za-z_$][\w$]*$/;

/**
 * Formats a path the way messages show it: `[0].user.name`. A key that is
 * no identifier is quoted, `[0]["first name"]`: a plugin's keys are its
 * words, and a key such as `x: the plugin ran out of memory` read as
 * plugbox's own in a `ValidationError` (review 109).
 */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return "(root)";
  return path.map((p) =>
    typeof p === "number" ? `[${p}]` : BARE_KEY.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`
  ).join("").replace(/^\./, "");
}

/**
 * A value failed its contract's schema, as plugbox itself checked it:
 * arguments before they are sent, or a result when it arrives. (What the
 * plugin says about arguments or its result is a {@linkcode PluginError}
 * with `issues`: a claim, not this verdict.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValidationError } from "./errors.ts";
 * const error = new ValidationError({
 *   contract: "greeter", method: "sayHello", direction: "output",
 *   issues: [{ path: [], message: "Expected string" }],
 * });
 * assert.ok(error.path.length === 0 && error.direction === "output");
 * ```
 */
export class ValidationError extends Error {
  /** Always `"ValidationError"`. */
  override name = "ValidationError" as const;
  /** The contract's name. */
  readonly contract: string;
  /** The method's name within the contract. */
  readonly method: string;
  /** `input` for arguments, `output` for the result. */
  readonly direction: "input" | "output";
  /** Path of the first issue; arguments start with their index. */
  readonly path: (string | number)[];
  /** Every issue the schema reported. */
  readonly issues: ValidationIssue[];

  /** Builds the error; see the class for what each field means. */
  constructor(
    fields: {
      contract: string;
      method: string;
      direction: "input" | "output";
      issues: ValidationIssue[];
      plugin?: string;
    },
    options?: ErrorOptions,
  ) {
    const first = fields.issues[0] ?? { path: [], message: "invalid value" };
    const what = fields.direction === "input" ? "argument" : "result";
    const where = fields.plugin ? ` from plugin "${fields.plugin}"` : "";
    super(
      `Invalid ${what} of "${fields.contract}.${fields.method}"${where} at ${
        formatPath(first.path)
      }: ${first.message}`,
      options,
    );
    this.contract = fields.contract;
    this.method = fields.method;
    this.direction = fields.direction;
    this.path = first.path;
    this.issues = fields.issues;
  }
}

/**
 * The sandbox preflight refused the plugin before any process started.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PreflightError } from "./errors.ts";
 * const error = new PreflightError({
 *   plugin: "evil", reason: "outside-root",
 *   detail: 'import "file:///etc/passwd" leaves the plugin root',
 *   specifier: "file:///etc/passwd", importer: "/plugins/evil/main.ts",
 * });
 * assert.ok(error.specifier === "file:///etc/passwd");
 * ```
 */
export class PreflightError extends Error {
  /** Always `"PreflightError"`. */
  override name = "PreflightError" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /**
   * A stable reason code: `entry`, `special-file`, `unreadable`, `config-file`, `limits`,
   * `outside-root`, `remote`, `unresolved`, `graph-failed`, `manifest`,
   * `grant-link`, `grant-too-large`, `audit-link`, `run-grant` and
   * `ffi-grant` (under an OS layer, a run or ffi grant that is no file, or
   * leads through a place the plugin can change).
   */
  readonly reason: string;
  /** The offending import, when the refusal is about one. */
  readonly specifier: string | undefined;
  /** The file containing the offending import. */
  readonly importer: string | undefined;
  /** The offending file in the plugin folder, when the refusal is about one. */
  readonly path: string | undefined;
  /** Every refusal the check found, this one first (one entry for most checks). */
  readonly all: string[] = [];

  /** Builds the error; see the class for what each field means. */
  constructor(
    fields: {
      plugin: string;
      reason: string;
      detail: string;
      specifier?: string;
      importer?: string;
      path?: string;
    },
    options?: ErrorOptions,
  ) {
    super(`Refused to start plugin "${fields.plugin}": ${fields.detail}`, options);
    this.plugin = fields.plugin;
    this.reason = fields.reason;
    this.specifier = fields.specifier;
    this.importer = fields.importer;
    this.path = fields.path;
  }
}

/**
 * A deadline passed: the start handshake, a call, a ping or a stop. Its
 * `name` is `"TimeoutError"`, like `AbortSignal.timeout()`'s reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "./errors.ts";
 * const error = new TimeoutError({ plugin: "slow", operation: "start", timeoutMs: 50 });
 * assert.ok(error.name === "TimeoutError" && error instanceof DOMException);
 * ```
 */
export class TimeoutError extends DOMException {
  /** The plugin's name. */
  readonly plugin: string;
  /** What timed out: `start`, `call`, `ping`. */
  readonly operation: string;
  /** The wire method, for calls. */
  readonly method: string | undefined;
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;
  /** The plugin's recent stderr. */
  readonly stderrTail: string;

  /** Builds the error; see the class for what each field means. */
  constructor(fields: {
    plugin: string;
    operation: string;
    timeoutMs: number;
    method?: string;
    stderrTail?: string;
    /** What the person may have missed, added to the message. */
    hint?: string;
  }) {
    const what = fields.method ? `"${fields.method}" on plugin` : `${fields.operation} of plugin`;
    const hint = fields.hint ? `: ${fields.hint}` : "";
    super(
      withTail(
        `Timed out after ${fields.timeoutMs} ms waiting for ${what} "${fields.plugin}"${hint}`,
        fields.stderrTail ?? "",
      ),
      "TimeoutError",
    );
    this.plugin = fields.plugin;
    this.operation = fields.operation;
    this.method = fields.method;
    this.timeoutMs = fields.timeoutMs;
    this.stderrTail = fields.stderrTail ?? "";
  }
}

/**
 * The requested isolation cannot be provided here (for example
 * `isolation: "os"` without a working bubblewrap).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IsolationUnavailableError } from "./errors.ts";
 * const error = new IsolationUnavailableError("os", "bwrap was not found on PATH");
 * assert.ok(error.isolation === "os");
 * ```
 */
export class IsolationUnavailableError extends Error {
  /** Always `"IsolationUnavailableError"`. */
  override name = "IsolationUnavailableError" as const;
  /** The isolation that was asked for. */
  readonly isolation: string;

  /** Builds the error; see the class for what each field means. */
  constructor(isolation: string, detail: string, options?: ErrorOptions) {
    super(`Isolation "${isolation}" is unavailable: ${detail}`, options);
    this.isolation = isolation;
  }
}

/**
 * The plugin cannot take calls: it was stopped, it failed for good (the
 * restart policy gave up), or it is restarting and the host asked calls to
 * fail fast rather than wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PluginUnavailableError } from "./errors.ts";
 * const error = new PluginUnavailableError("calc", "failed", "crashed 5 times within 180000 ms");
 * assert.equal(error.state, "failed");
 * ```
 */
export class PluginUnavailableError extends Error {
  /** Always `"PluginUnavailableError"`. */
  override name = "PluginUnavailableError" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** Its state: `"restarting"`, `"stopping"`, `"stopped"` or `"failed"`. */
  readonly state: string;
  /** Why, in words. */
  readonly reason: string;

  /** Builds the error; see the class for what each field means. */
  constructor(plugin: string, state: string, reason: string, options?: ErrorOptions) {
    super(`Plugin "${plugin}" is ${state}: ${reason}`, options);
    this.plugin = plugin;
    this.state = state;
    this.reason = reason;
  }
}

/**
 * One thing a plugin asks for beyond what the lock approved: a request in
 * its `plugbox.json`, or a grant the host passes.
 *
 * @example
 * ```ts
 * import type { LockDifference } from "./errors.ts";
 * const more: LockDifference = { in: "requests", kind: "net", value: "*" };
 * ```
 */
export interface LockDifference {
  /** Where: the plugin's manifest requests, or the grants the host passes. */
  in: "requests" | "grants";
  /** The permission kind, or `isolation` for a layer weaker than the approval's. */
  kind: string;
  /** The value asked for (neutralised). */
  value: string;
  /**
   * For a path request spelled other than the path it covers (`..`, a link on the way): that
   * path, as it resolves now (neutralised).
   */
  covers?: string;
}

/**
 * A start refused by the lock (`plugbox.lock`): the plugin was never
 * approved, it changed and the policy refuses changes, it asks for more
 * than was approved, the host's `ask` callback declined, or the lock itself
 * is malformed or was changed outside plugbox.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LockError } from "./errors.ts";
 * const error = new LockError({
 *   plugin: "fetcher",
 *   lockPath: "/app/plugbox.lock",
 *   reason: "beyond-approval",
 *   detail: 'it asks for more than the lock approved: requests net "*"',
 *   beyond: [{ in: "requests", kind: "net", value: "*" }],
 * });
 * assert.equal(error.beyond[0].kind, "net");
 * ```
 */
export class LockError extends Error {
  /** Always `"LockError"`. */
  override name = "LockError" as const;
  /** The plugin's name. */
  readonly plugin: string;
  /** The lock file. */
  readonly lockPath: string;
  /**
   * A stable reason code: `not-approved`, `changed`, `beyond-approval`,
   * `declined`, `tampered`, `malformed`, `busy` (another process was changing the lock),
   * `unexpected` (an approval given the content hash it expects found other content).
   */
  readonly reason: string;
  /** What the plugin asks for beyond the approval (empty for the other reasons). */
  readonly beyond: readonly LockDifference[];

  /** Builds the error; see the class for what each field means. */
  constructor(
    fields: {
      plugin: string;
      lockPath: string;
      reason: string;
      detail: string;
      beyond?: LockDifference[];
    },
    options?: ErrorOptions,
  ) {
    // Busy meets a plug approve as often as a start: it refuses the change, whichever it was.
    const what = fields.reason === "busy" || fields.reason === "unexpected"
      ? `Cannot change the lock for plugin "${fields.plugin}"`
      : `Refused to start plugin "${fields.plugin}"`;
    super(`${what}: ${fields.detail}`, options);
    this.plugin = fields.plugin;
    this.lockPath = fields.lockPath;
    this.reason = fields.reason;
    this.beyond = fields.beyond ?? [];
  }
}

/**
 * Thrown by a host capability's implementation to answer the plugin with
 * this message (and `code`, a short machine-readable word). Any other error
 * a capability throws reaches the plugin as "Capability ... failed" only:
 * the host's internals (messages, paths, stacks) never cross.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CapabilityError } from "./errors.ts";
 * const error = new CapabilityError("no such note", { code: "not-found" });
 * assert.ok(error.name === "CapabilityError" && error.code === "not-found");
 * ```
 */
export class CapabilityError extends Error {
  /** Always `"CapabilityError"`. */
  override name = "CapabilityError" as const;
  /** A short word the plugin may branch on. */
  readonly code: string;

  /** Builds the error; `message` and `code` are what the plugin sees. */
  constructor(message: string, options: ErrorOptions & { code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "failed";
  }
}
