/**
 * Classifies a scanned line from its envelope members alone, so what the
 * receiver does not need is never decoded or parsed: a request's method and
 * id are read from their bytes, and `params`, `result` and `error` are
 * parsed only when the receiver reads them (a response, only once its id
 * turned out to be one the receiver is waiting for).
 * @module
 */

import { keepable } from "./bytes.ts";
import type { JsonScan } from "./json_scan.ts";
import {
  type Classified,
  classifyMessage,
  isId,
  MAX_METHOD_BYTES,
  type RequestId,
  type RequestMessage,
  type ResponseMessage,
  RuntimeMethod,
} from "./protocol.ts";

const decoder = new TextDecoder();

/** Members up to this many bytes are parsed at once; longer ones when first read. */
const EAGER_BYTES = 4096;

/**
 * The longest token an id can be: a string of 256 UTF-16 units (isId),
 * each escaped as `\uXXXX`, and its quotes. Longer is no id, unread.
 */
const MAX_ID_TOKEN_BYTES = 2 + 6 * 256;

/** Text of a member's bytes. */
function token(bytes: Uint8Array, range: [number, number]): string {
  return decoder.decode(bytes.subarray(range[0], range[1]));
}

function idOf(bytes: Uint8Array, scan: JsonScan): RequestId | null {
  const range = scan.members.id;
  if (!range || range[1] - range[0] > MAX_ID_TOKEN_BYTES) return null;
  const value = JSON.parse(token(bytes, range));
  return isId(value) ? value : null;
}

/** How a `params` parsed only when read tells its `id` first (see {@linkcode paramsIdOf}). */
const paramsIds = new WeakMap<object, () => unknown>();

/**
 * `params.id` of a message, read without parsing a long `params`: the
 * line's scan found the member. A stream item's or a progress report's id
 * is judged before its value is parsed, so a line for a call not in flight
 * costs the host a scan, not a parse (review 57: 5 MB items for ids the
 * host never gave held its event loop 0.7 s each, within the fault budget).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paramsIdOf } from "./envelope.ts";
 * assert.equal(paramsIdOf({ params: { id: 7, value: 1 } }), 7);
 * ```
 */
export function paramsIdOf(message: { params?: unknown }): unknown {
  const peek = paramsIds.get(message);
  if (peek) return peek();
  const params = message.params;
  return typeof params === "object" && params !== null
    ? (params as { id?: unknown }).id
    : undefined;
}

/**
 * Defines `name` on `target`: parsed now when short, else when first read,
 * and only its own bytes either way: what else the line holds is never
 * parsed (review 71: a parse of the whole line for a long `params` built
 * whatever lay beside the envelope, and members the scan read otherwise
 * than the parse, a key led by a BOM, passed its screen). The scan passed
 * the line, so the member is JSON, and `JSON.parse` cannot fail here.
 */
function member(
  target: object,
  name: "params" | "result" | "error",
  bytes: Uint8Array,
  scan: JsonScan,
  lazy = false,
): void {
  const range = scan.members[name]!;
  if (!lazy && range[1] - range[0] <= EAGER_BYTES) {
    Object.defineProperty(target, name, {
      value: JSON.parse(token(bytes, range)),
      enumerable: true,
    });
  } else {
    // Its own bytes, copied when they are a small part of the buffer they were read into: a view
    // kept that whole read (64 KiB a read of a child's stdout), and a stream item, held until its
    // consumer reads it, is a line of 129 bytes or more (review 94: 2,048 short items, each read
    // alone, held 128 MiB for 400 KiB of lines).
    const part = keepable(bytes.subarray(range[0], range[1]));
    let parsed: { value: unknown } | undefined;
    const read = () => (parsed ??= { value: JSON.parse(decoder.decode(part)) }).value;
    Object.defineProperty(target, name, { get: read, enumerable: true });
    if (name === "params") {
      // Where the line's scan found it: a second scan of a long `params`, on this thread, cost
      // as much as the first, which an offload had kept off it (review 95: 25 to 50 ms a line).
      // Read now, a short token: kept for later, the line's bytes would be kept with it.
      const at = scan.paramsId;
      const id = at && at[1] - at[0] <= MAX_ID_TOKEN_BYTES
        ? JSON.parse(token(bytes, at))
        : undefined;
      paramsIds.set(target, () => id);
    }
  }
}

/**
 * What a line holds, from its scan: like `classifyMessage` on the parsed
 * value, but `params`, `result` and `error` longer than 4 KiB are parsed
 * only when read, and a method name longer than `MAX_METHOD_BYTES` makes
 * the message invalid (it is never decoded). The scan must be `"ok"` or
 * over a cap (`"too-deep"`, `"too-many"`), which gives `"over-limit"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanJson } from "./json_scan.ts";
 * import { classifyScanned } from "./envelope.ts";
 * const bytes = new TextEncoder().encode('{"jsonrpc":"2.0","id":3,"method":"m","params":[1]}');
 * const found = classifyScanned(bytes, scanJson(bytes, { maxDepth: 8, maxMembers: 99 }));
 * assert.equal(found.kind, "request");
 * ```
 */
export function classifyScanned(
  bytes: Uint8Array,
  scan: JsonScan,
  known?: string,
): Classified {
  const id = idOf(bytes, scan);
  if (scan.verdict !== "ok") {
    const reason = scan.verdict === "too-deep"
      ? "message is nested too deeply"
      : "message has too many members";
    return { kind: "over-limit", reason, id };
  }
  if (!scan.object) return { kind: "invalid", reason: "message is not a JSON object", id: null };
  const { members } = scan;
  const version = members.jsonrpc;
  if (!version || version[1] - version[0] > 64 || JSON.parse(token(bytes, version)) !== "2.0") {
    return { kind: "invalid", reason: 'member "jsonrpc" is not "2.0"', id };
  }
  const method = members.method;
  if (method) {
    if (bytes[method[0]] !== 0x22) {
      return { kind: "invalid", reason: 'member "method" is not a string', id };
    }
    if (method[1] - method[0] > MAX_METHOD_BYTES) {
      return {
        kind: "invalid",
        reason: `member "method" is longer than ${MAX_METHOD_BYTES} bytes`,
        id,
      };
    }
    if (members.id && id === null) {
      return { kind: "invalid", reason: 'member "id" is not an integer or string', id: null };
    }
    const name = known ?? JSON.parse(token(bytes, method)) as string;
    const message = { jsonrpc: "2.0", method: name } as RequestMessage;
    // A stream item's `params`, whatever its size, is parsed only when read: the host holds items
    // for a consumer that has not read them yet, and a value built from JSON costs up to 30 times
    // its bytes (review 90).
    if (members.params) {
      member(message, "params", bytes, scan, message.method === RuntimeMethod.item);
    }
    if (!members.id) return { kind: "notification", message };
    message.id = id!;
    return { kind: "request", message: message as RequestMessage & { id: RequestId } };
  }
  const nullId = members.id !== undefined && bytes[members.id[0]] === 0x6e; // the token null
  if (!members.id || (!nullId && id === null)) {
    return { kind: "invalid", reason: 'response member "id" is missing or malformed', id: null };
  }
  if (!members.result === !members.error) {
    return { kind: "invalid", reason: 'response needs exactly one of "result" and "error"', id };
  }
  const message = { jsonrpc: "2.0", id } as ResponseMessage;
  if (members.result) member(message, "result", bytes, scan);
  else member(message, "error", bytes, scan);
  return { kind: "response", message };
}

/**
 * What a scanned line holds: a short line whose text is at hand is parsed
 * whole (cheaper, and bounded by its size) and classified like any parsed
 * value; any other is classified from its envelope by
 * {@linkcode classifyScanned}. Either way a method name longer than
 * `MAX_METHOD_BYTES` makes the message invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanJson } from "./json_scan.ts";
 * import { classifyLine } from "./envelope.ts";
 * const text = '{"jsonrpc":"2.0","id":3,"result":"hi"}';
 * const bytes = new TextEncoder().encode(text);
 * const found = classifyLine(bytes, scanJson(bytes, { maxDepth: 8, maxMembers: 99 }), text);
 * assert.equal(found.kind, "response");
 * ```
 */
export function classifyLine(bytes: Uint8Array, scan: JsonScan, text?: string): Classified {
  const method = scan.members.method;
  const shortMethod = !method || method[1] - method[0] <= MAX_METHOD_BYTES;
  // Read as JSON reads it: "\u0024/item" is an item too. Read once: the envelope's reading below
  // takes the name as read here.
  const name = method !== undefined && shortMethod && bytes[method[0]] === 0x22
    ? JSON.parse(token(bytes, method)) as string
    : undefined;
  const item = name === RuntimeMethod.item;
  if (text !== undefined && scan.verdict === "ok" && shortMethod && !item) {
    return classifyMessage(JSON.parse(text)); // the scan found JSON: it parses
  }
  return classifyScanned(bytes, scan, name);
}
