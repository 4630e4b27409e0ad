/**
 * Wire-level constants and message shapes shared by host and plugin.
 * PROTOCOL.md is the normative description; this file is its executable half.
 * @module
 */

/** The protocol version this build speaks; sent in the handshake by both sides. */
export const PROTOCOL_VERSION = 1;

/**
 * Room the default line cap leaves for a message's envelope (`jsonrpc`, id,
 * method, the array around the arguments) beyond a payload of 16 MiB.
 */
export const ENVELOPE_ALLOWANCE_BYTES: number = 64 * 1024;

/**
 * Default cap on one line of the wire, in bytes (the newline excluded): a
 * payload of 16 MiB (an argument's or a result's JSON text) plus
 * {@linkcode ENVELOPE_ALLOWANCE_BYTES} for the envelope around it.
 */
export const DEFAULT_MAX_LINE_BYTES: number = 16 * 1024 * 1024 + ENVELOPE_ALLOWANCE_BYTES;

/** Deepest nesting the host accepts in one message (the envelope object is depth 1). */
export const MAX_MESSAGE_DEPTH = 64;

/** Most members (array elements and object properties, at any depth) the host accepts in one message. */
export const MAX_MESSAGE_MEMBERS = 1_000_000;

/** Longest method name, in bytes of its JSON text; a longer one makes the message invalid. */
export const MAX_METHOD_BYTES = 1024;

/** Name of the argv flag that carries the per-start nonce to the plugin. */
export const NONCE_FLAG = "--plugbox-nonce";

/** Runtime methods; the `$/` prefix is reserved for them. */
export const RuntimeMethod = {
  initialize: "$/initialize",
  cancel: "$/cancel",
  ping: "$/ping",
  describe: "$/describe",
  /** Plugin to host: one item of a streamed result (PROTOCOL.md, "Streams"). */
  item: "$/item",
  /** Host to plugin: more credit for a streamed result. */
  credit: "$/credit",
  /** Plugin to host: a progress report for a call in progress. */
  progress: "$/progress",
} as const;

/** JSON-RPC error codes used on the wire. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The implementation threw; `data.name` is the thrown error's name. */
  ApplicationError: -32000,
  /** The implementation hit a Deno permission check; `data` names kind and target. */
  PermissionDenied: -32001,
  /** The implementation returned a value its contract's output schema refuses. */
  InvalidResult: -32002,
  /** A call arrived before `$/initialize` completed. */
  NotInitialized: -32003,
  /** The receiver has too many requests in progress from this peer. */
  Overloaded: -32004,
  /** The handshake named a protocol version this side does not speak. */
  UnsupportedProtocol: -32010,
  /** The handshake nonce differs from the one given on the command line. */
  NonceMismatch: -32011,
  /** The handler stopped because the caller sent `$/cancel` (LSP's code). */
  RequestCancelled: -32800,
} as const;

/** A JSON-RPC request or notification id. */
export type RequestId = number | string;

/** A JSON-RPC 2.0 request (with `id`) or notification (without). */
export interface RequestMessage {
  jsonrpc: "2.0";
  id?: RequestId;
  method: string;
  params?: unknown;
}

/** The `error` member of a failed response. */
export interface ResponseErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** A JSON-RPC 2.0 response. */
export interface ResponseMessage {
  jsonrpc: "2.0";
  id: RequestId | null;
  result?: unknown;
  error?: ResponseErrorObject;
}

/** Any message on the wire. */
export type Message = RequestMessage | ResponseMessage;

/** What {@linkcode classifyMessage} found in a parsed line. */
export type Classified =
  | { kind: "request"; message: RequestMessage & { id: RequestId } }
  | { kind: "notification"; message: RequestMessage }
  | { kind: "response"; message: ResponseMessage }
  | { kind: "invalid"; reason: string; id: RequestId | null }
  | { kind: "over-limit"; reason: string; id: RequestId | null };

/** Whether `value` is a usable request id: a safe integer, or a string of at most 256 characters. */
export function isId(value: unknown): value is RequestId {
  return (typeof value === "number" && Number.isSafeInteger(value)) ||
    (typeof value === "string" && value.length <= 256);
}

/**
 * Checks the JSON-RPC envelope of a parsed line by hand (this runs once per
 * message, so it avoids schema machinery) and says what kind it is.
 */
export function classifyMessage(value: unknown): Classified {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", reason: "message is not a JSON object", id: null };
  }
  const msg = value as Record<string, unknown>;
  const id = isId(msg.id) ? msg.id : null;
  if (msg.jsonrpc !== "2.0") {
    return { kind: "invalid", reason: 'member "jsonrpc" is not "2.0"', id };
  }
  if ("method" in msg) {
    if (typeof msg.method !== "string") {
      return { kind: "invalid", reason: 'member "method" is not a string', id };
    }
    if ("id" in msg && !isId(msg.id)) {
      return { kind: "invalid", reason: 'member "id" is not an integer or string', id: null };
    }
    const message = msg as unknown as RequestMessage;
    return "id" in msg
      ? { kind: "request", message: message as RequestMessage & { id: RequestId } }
      : { kind: "notification", message };
  }
  if (!("id" in msg) || (msg.id !== null && !isId(msg.id))) {
    return { kind: "invalid", reason: 'response member "id" is missing or malformed', id: null };
  }
  const hasResult = "result" in msg;
  const hasError = "error" in msg;
  if (hasResult === hasError) {
    return { kind: "invalid", reason: 'response needs exactly one of "result" and "error"', id };
  }
  // The error's shape is checked by the receiver once it knows the id is its own.
  return { kind: "response", message: msg as unknown as ResponseMessage };
}

/** Whether a response's `error` member is well formed: an integer `code` and a string `message`. */
export function isErrorObject(error: unknown): error is ResponseErrorObject {
  if (typeof error !== "object" || error === null) return false;
  const fields = error as Record<string, unknown>;
  return Number.isInteger(fields.code) && typeof fields.message === "string";
}

/** Parameters of `$/initialize`, host to plugin. */
export interface InitializeParams {
  protocolVersion: number;
  nonce: string;
  contracts: { name: string; version: number }[];
  maxLineBytes: number;
  /** Longest capability call the host takes, in bytes of its line (absent: the line cap). */
  maxCapabilityBytes?: number;
  /** Capability calls the host takes at once, those waiting for a slot included. */
  maxCapabilityCalls?: number;
  /** Bytes of capability calls (their lines) that may wait for a slot; past them, refused. */
  maxCapabilityQueueBytes?: number;
  /** Progress reports per call per second the host delivers; more are dropped. */
  maxProgressPerSecond?: number;
  /**
   * Bytes of progress values (as JSON, plus 128 a report) per second, all
   * calls together, the plugin sends at most; the host drops progress past
   * twice as many bytes of lines in a second, as work for nothing.
   */
  maxProgressBytesPerSecond?: number;
}

/**
 * One contract as the plugin describes it in the handshake.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * for (const { name, version, methods } of plugin.served) {
 *   console.log(`${name} v${version}: ${methods.join(", ")}`); // greeter v1: sayHello, ...
 * }
 * ```
 */
export interface ServedContract {
  /** The contract's name. */
  name: string;
  /** The contract's version. */
  version: number;
  /** Its method names. */
  methods: string[];
}

/** Result of `$/initialize`, plugin to host. */
export interface InitializeResult {
  protocolVersion: number;
  nonce: string;
  contracts: ServedContract[];
}

/**
 * One method as `$/describe` reports it: JSON Schemas of its argument tuple and result.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * const [greeter] = await plugin.describe();
 * for (const method of greeter.methods) {
 *   console.log(method.name, JSON.stringify(method.input), "->", JSON.stringify(method.output));
 * }
 * ```
 */
export interface DescribedMethod {
  /** The method's name. */
  name: string;
  /** JSON Schema of the argument tuple. */
  input: unknown;
  /** JSON Schema of the result. */
  output: unknown;
}

/**
 * One contract as `$/describe` reports it.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * for (const contract of await plugin.describe()) {
 *   console.log(`${contract.name} v${contract.version}: ${contract.methods.length} methods`);
 * }
 * ```
 */
export interface DescribedContract {
  /** The contract's name. */
  name: string;
  /** The contract's version. */
  version: number;
  /** Its methods. */
  methods: DescribedMethod[];
}

/** Parameters of the `$/item` notification: one item of the stream answering request `id`. */
export interface ItemParams {
  id: RequestId;
  value: unknown;
}

/**
 * Parameters of the `$/credit` notification: the plugin may send `items`
 * more items of stream `id`, and more while its byte credit (raised by
 * `bytes`) is above zero; each `$/item` line costs one item and its length
 * in bytes (UTF-8, the newline excluded).
 */
export interface CreditParams {
  id: RequestId;
  items: number;
  bytes: number;
}

/** Parameters of the `$/progress` notification: a report on the call `id`. */
export interface ProgressParams {
  id: RequestId;
  value: unknown;
}

/**
 * Parameters of a capability request (plugin to host, method
 * `contract.capability`): the arguments, and the id of the host's call
 * that made it, if any (its end cancels the capability's work).
 */
export interface CapabilityParams {
  args: unknown[];
  call?: RequestId;
}

/** Parameters of the `$/cancel` notification. */
export interface CancelParams {
  id: RequestId;
}

/** The wire name of a contract method. */
export function wireMethod(contract: string, method: string): string {
  return `${contract}.${method}`;
}
