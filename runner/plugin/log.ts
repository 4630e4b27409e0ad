/**
 * Plugin side: a small logger that writes one JSON object per line to
 * stderr, which the host parses into leveled log entries.
 * @module
 */

import type { LogLevel, LogLine } from "../wire/mod.ts";

export type { LogLevel };

/**
 * The plugin-side logger.
 *
 * @example
 * ```ts ignore
 * import { log, type Logger } from "@plugbox/plugbox/plugin";
 *
 * function countWords(text: string, logger: Logger = log): number {
 *   const words = text.split(/\s+/).filter(Boolean).length;
 *   logger.debug("counted", { words });
 *   return words;
 * }
 * ```
 */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Normal operation. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something odd that the plugin survived. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** A failure. */
  error(message: string, fields?: Record<string, unknown>): void;
}

const encoder = new TextEncoder();

function write(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
  const entry: LogLine = {
    level,
    msg: String(message),
    time: new Date().toISOString(),
  };
  if (fields !== undefined) entry.fields = fields;
  let line: string;
  try {
    line = JSON.stringify(entry);
  } catch {
    line = JSON.stringify({
      level,
      msg: String(message),
      time: entry.time,
      fields: "(not serialisable)",
    });
  }
  // One write per line, so lines from concurrent handlers never interleave.
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/**
 * Writes structured log lines to stderr: `{"level":"info","msg":"...","time":"...","fields":{...}}`.
 * The host hands each one to its `onLog` callback, tagged with the plugin's name.
 *
 * @example
 * ```ts ignore
 * import { log } from "@plugbox/plugbox/plugin";
 * log.info("summarised", { files: 3 });
 * ```
 */
export const log: Logger = Object.freeze({
  debug: (message: string, fields?: Record<string, unknown>) => write("debug", message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write("info", message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write("warn", message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write("error", message, fields),
});
