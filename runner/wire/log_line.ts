/**
 * The log line format both sides agree on: the plugin's logger writes one
 * JSON object per stderr line, and the host parses it back into a leveled
 * entry. Shared here so neither side imports the other.
 * @module
 */

/**
 * Log levels, lowest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LogLevel } from "./log_line.ts";
 *
 * const order: LogLevel[] = ["debug", "info", "warn", "error"];
 * const atLeast = (level: LogLevel, min: LogLevel) => order.indexOf(level) >= order.indexOf(min);
 * assert.ok(atLeast("error", "warn") && !atLeast("info", "warn"));
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every level, for checking a parsed line. */
export const LOG_LEVELS: ReadonlySet<string> = new Set(["debug", "info", "warn", "error"]);

/** One structured log line as it travels on stderr. */
export interface LogLine {
  /** The level. */
  level: LogLevel;
  /** The message. */
  msg: string;
  /** When the plugin wrote it, ISO 8601. */
  time: string;
  /** Structured fields, if any. */
  fields?: unknown;
}
