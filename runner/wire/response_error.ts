/**
 * The error a JSON-RPC error answer becomes, and what handlers throw to
 * answer with a code of their own.
 * @module
 */

/**
 * A JSON-RPC error answer, as it arrived: what the raw `plugin.call()`
 * rejects with when the plugin answers with an error (typed API methods turn
 * it into {@linkcode PluginError}, {@linkcode PermissionDeniedError} or
 * {@linkcode ValidationError}). Inside plugbox, request handlers also throw
 * it to answer with a specific code. Its `message` and `data` are the
 * plugin's words: neutralise them before showing them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResponseError } from "./response_error.ts";
 * const error = new ResponseError(-32602, "bad params", { path: [0] });
 * assert.ok(error.code === -32602);
 * ```
 */
export class ResponseError extends Error {
  /** Always `"ResponseError"`. */
  override name = "ResponseError" as const;
  /** The JSON-RPC error code. */
  readonly code: number;
  /** The JSON-RPC `data` member. */
  readonly data: unknown;

  /** Builds the error; see the class for what each field means. */
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }
}
