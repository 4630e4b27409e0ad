/**
 * A plugin's error answers as the errors a host catches: its claims, never
 * plugbox's own verdicts (THREATS T22), every string neutralised, its
 * `data` bounded.
 * @module
 */

import { formatPath, PermissionDeniedError, PluginError, type ValidationIssue } from "../errors.ts";
import { ErrorCode, neutralize, ResponseError, wireMethod } from "../wire/mod.ts";

/** The most of an error's `data` a {@linkcode PluginError} keeps, as JSON text, about. */
export const MAX_ERROR_DATA_BYTES = 64 * 1024;

/**
 * `data` when its JSON text is at most about {@linkcode MAX_ERROR_DATA_BYTES},
 * else undefined: an error a host keeps (in a list of failures, say) would
 * otherwise hold up to a whole line of the plugin's, 16 MiB (review 37). The
 * walk stops as soon as it has counted past the cap.
 */
function boundedData(data: unknown): unknown {
  let left = MAX_ERROR_DATA_BYTES;
  const pending: unknown[] = [data];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === "string") left -= jsonLength(value);
    else if (Array.isArray(value)) {
      left -= value.length + 2;
      if (left < 0) return undefined;
      for (const item of value) pending.push(item);
    } else if (typeof value === "object" && value !== null) {
      const keys = Object.keys(value);
      left -= keys.length * 2 + 2;
      if (left < 0) return undefined;
      for (const key of keys) {
        left -= jsonLength(key);
        pending.push((value as Record<string, unknown>)[key]);
      }
    } else left -= 8;
    if (left < 0) return undefined;
  }
  return data;
}

/** A string's length as JSON text, about: a control character is six (`\u001b`). */
function jsonLength(text: string): number {
  if (text.length > MAX_ERROR_DATA_BYTES) return text.length;
  let length = text.length + 2;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c) length += 5;
  }
  return length;
}

/** Turns zod-style issues into plain, bounded {@linkcode ValidationIssue}s. */
export function toIssues(issues: readonly unknown[]): ValidationIssue[] {
  return issues.slice(0, 20).map((raw) => {
    const issue = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    // Only strings and numbers are shown: String() of a nested array would walk all of it.
    const path = Array.isArray(issue.path)
      ? issue.path.slice(0, 32).map((p) =>
        typeof p === "number" ? p : neutralize(typeof p === "string" ? p : typeof p, 200)
      )
      : [];
    const out: ValidationIssue = { path, message: neutralize(issueMessage(issue), 500) };
    if (typeof issue.code === "string") out.code = neutralize(issue.code, 100);
    return out;
  });
}

/**
 * An issue's message; for keys not in the schema, in plugbox's words with
 * each key quoted: zod's quotes them bare, and a plugin's key holding a `"`
 * closed the quote and went on as zod's words (review 109).
 */
function issueMessage(issue: Record<string, unknown>): string {
  const keys = issue.keys;
  if (issue.code === "unrecognized_keys" && Array.isArray(keys)) {
    const shown = keys.slice(0, 8).map((key) => JSON.stringify(String(key).slice(0, 200)));
    const more = keys.length > 8 ? `, and ${keys.length - 8} more` : "";
    return `Unrecognized key${keys.length === 1 ? "" : "s"}: ${shown.join(", ")}${more}`;
  }
  return typeof issue.message === "string" ? issue.message : "invalid";
}

function dataField(data: unknown, key: string): string | undefined {
  const value = typeof data === "object" && data !== null
    ? (data as Record<string, unknown>)[key]
    : undefined;
  return typeof value === "string" ? neutralize(value, 1000) : undefined;
}

const CLAIMS: Record<number, string> = {
  [ErrorCode.InvalidParams]: "invalid arguments",
  [ErrorCode.InvalidResult]: "an invalid result",
};

/**
 * Maps a wire error answer to the error a caller catches. An answer is the
 * plugin's claim, so it becomes a {@linkcode PluginError} (or its
 * {@linkcode PermissionDeniedError}), never one of plugbox's own verdicts:
 * a plugin that answers "invalid params" does not get the host blamed with
 * a `ValidationError` (THREATS T22). Every string is neutralised to one line.
 */
export function toCallError(
  error: unknown,
  plugin: string,
  contract: string,
  method: string,
): unknown {
  return toPluginError(error, plugin, wireMethod(contract, method));
}

/**
 * {@linkcode toCallError} for any wire method (`$/ping`, `$/describe`
 * included). The plugin's own error object is not kept as the `cause`: its
 * message is the plugin's text, whole, and an inspected error prints its
 * cause (review 37).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResponseError } from "../wire/mod.ts";
 * import { toPluginError } from "./answer_errors.ts";
 * const error = toPluginError(new ResponseError(-32000, "\x1b[2Jno"), "calc", "$/ping");
 * assert.equal((error as Error).message, 'Plugin "calc" reports "$/ping" failed: Error: \\x1b[2Jno');
 * ```
 */
export function toPluginError(error: unknown, plugin: string, wire: string): unknown {
  if (!(error instanceof ResponseError)) return error;
  const data = boundedData(error.data);
  const remoteName = dataField(data, "name") ?? "Error";
  const message = neutralize(error.message, 1000);
  if (error.code === ErrorCode.PermissionDenied) {
    return new PermissionDeniedError({
      plugin,
      method: wire,
      permission: dataField(data, "permission") ?? "unknown",
      target: dataField(data, "target"),
      code: error.code,
      remoteName,
      data,
    });
  }
  const claim = CLAIMS[error.code];
  if (claim) {
    const raw = typeof data === "object" && data !== null
      ? (data as Record<string, unknown>).issues
      : undefined;
    const issues = Array.isArray(raw) && raw.length > 0 ? toIssues(raw) : [{ path: [], message }];
    const first = issues[0];
    return new PluginError(
      remoteName,
      `${claim} at ${formatPath(first.path)}: ${first.message}`,
      { plugin, method: wire, code: error.code, data, issues },
    );
  }
  return new PluginError(remoteName, message, {
    plugin,
    method: wire,
    code: error.code,
    data,
  });
}
