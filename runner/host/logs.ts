/**
 * Host side: turns a plugin's stderr lines into leveled log entries. JSON
 * lines from the SDK logger keep their level and fields; any other line is
 * text, and an uncaught error with its stack is logged at error level.
 * @module
 */

import { LOG_LEVELS, type LogLevel, scanJson } from "../wire/mod.ts";
import { neutralize } from "../wire/mod.ts";
import { OWN_NOTE } from "./stderr.ts";

/** The shape a structured log line may have; any other line is text. */
const LOG_STRUCTURE = { maxDepth: 32, maxMembers: 600 };
const encoder = new TextEncoder();

export type { LogLevel };

/**
 * One line of a plugin's stderr, as the host's `onLog` receives it.
 *
 * @example
 * ```ts ignore
 * import { type LogEntry, startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * const onLog = (entry: LogEntry) =>
 *   console.error(`[${entry.plugin}] ${entry.level}: ${entry.message}`, entry.fields ?? "");
 * await using plugin = await startPlugin("./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   onLog,
 * });
 * ```
 */
export interface LogEntry {
  /** The plugin's name. */
  plugin: string;
  /** The level: from the SDK logger, or guessed for text lines. */
  level: LogLevel;
  /** The message, neutralised (no control characters) and bounded. */
  message: string;
  /** Structured fields from the SDK logger, strings neutralised. */
  fields?: Record<string, unknown>;
  /** True when the line came from the SDK logger. */
  structured: boolean;
  /**
   * `"plugin"` for the plugin's lines; `"plugbox"` for plugbox's own notes
   * about its stderr (lines dropped over the rate), which a plugin cannot
   * write: its own line that begins as they do gets a `\` first.
   */
  source: "plugin" | "plugbox";
  /** When the host read it. */
  time: Date;
}

// Deno's report of an uncaught exception, then its stack frames.
const ERROR_START = /^(error: |Uncaught |\w*Error: )/;
// What follows it: the quoted source line, the caret, "at" frames, causes.
const ERROR_CONTINUES = /^(\s|Caused by|$)/;

/** A plugin's message that begins as plugbox's notes do, with a `\` first (stderr.ts). */
function ownNoteEscaped(message: string): string {
  return message.startsWith(OWN_NOTE) ? `\\${message}` : message;
}

/** Neutralises every string in a parsed value, bounded in depth and size. */
function clean(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return neutralize(value, 1000);
  if (typeof value !== "object" || value === null) return value;
  if (depth > 4) return "(too deep)";
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value).slice(0, 50)) {
    out[neutralize(key, 100)] = clean(v, depth + 1);
  }
  return out;
}

/**
 * Stateful parser for one plugin's stderr (state: whether the previous line
 * began an error, so its stack frames share its level).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogParser } from "./logs.ts";
 * const parser = new LogParser("p");
 * assert.equal(parser.parse('{"level":"warn","msg":"careful"}').level, "warn");
 * assert.equal(parser.parse("error: Uncaught Error: boom").level, "error");
 * assert.equal(parser.parse("    at main.ts:1:1").level, "error");
 * ```
 */
export class LogParser {
  #plugin: string;
  #inError = false;

  constructor(plugin: string) {
    this.#plugin = plugin;
  }

  /** Parses one (already neutralised) stderr line. */
  parse(line: string): LogEntry {
    const time = new Date();
    // Only a line the size of a log record's shape is parsed (it is at most 8 KiB, but a
    // line of thousands of tiny members would cost the host far more than it says).
    if (
      line.startsWith("{") && line.endsWith("}") &&
      scanJson(encoder.encode(line), LOG_STRUCTURE).verdict === "ok"
    ) {
      try {
        const data = JSON.parse(line) as Record<string, unknown>;
        if (
          typeof data.level === "string" && LOG_LEVELS.has(data.level) &&
          typeof data.msg === "string"
        ) {
          this.#inError = false;
          const entry: LogEntry = {
            plugin: this.#plugin,
            level: data.level as LogLevel,
            message: ownNoteEscaped(neutralize(data.msg)),
            structured: true,
            source: "plugin",
            time,
          };
          if (typeof data.fields === "object" && data.fields !== null) {
            entry.fields = clean(data.fields) as Record<string, unknown>;
          }
          return entry;
        }
      } catch {
        // not JSON after all: a text line
      }
    }
    if (ERROR_START.test(line)) this.#inError = true;
    else if (!ERROR_CONTINUES.test(line)) this.#inError = false;
    const level: LogLevel = this.#inError ? "error" : /^warn(ing)?\b/i.test(line) ? "warn" : "info";
    return {
      plugin: this.#plugin,
      level,
      message: line,
      structured: false,
      source: "plugin",
      time,
    };
  }

  /** One of plugbox's own notes about the plugin's stderr, as an entry. */
  note(line: string): LogEntry {
    const time = new Date();
    return {
      plugin: this.#plugin,
      level: "warn",
      message: line,
      structured: false,
      source: "plugbox",
      time,
    };
  }
}
