/**
 * plugbox's own verdicts on a start, before the plugin runs, and how the host tells them from the
 * plugin's words. The plugin's stderr is one pipe, which plugbox's steps before the plugin (the
 * prologue, bubblewrap, the launcher) write first: the last of them writes {@linkcode EXEC_MARK}
 * just before the plugin's exec, and ends the start where it cannot. What comes before that line,
 * the plugin never wrote (it had not run), so a verdict there is plugbox's; after it, every byte is
 * the plugin's, and the same words are its claim (review 168: a plugin that printed the budget's
 * refusal and exited 125 was reported exactly as a start plugbox refused).
 * @module
 */

import type { StartRefusal, StartRefusalReason } from "../errors.ts";

/** The line plugbox's last step writes on the plugin's stderr just before the plugin's exec. */
export const EXEC_MARK = "plugbox: the plugin runs from here";

/**
 * How a verdict of plugbox's own begins on stderr before the exec:
 * `plugbox refused <reason>[ <field>=<n>...]: <words>`; its exit code is 125.
 */
export const VERDICT = "plugbox refused ";

const REASONS: ReadonlySet<string> = new Set<StartRefusalReason>([
  "task-budget",
  "no-task-budget",
  "limits",
  "cgroups",
  "descriptors",
  "sandbox",
  "launcher",
]);

/** A verdict of plugbox's own on a start, read from before the plugin's exec. */
export type StartVerdict = StartRefusal;

const FIELDS = ["budget", "reserved", "cap", "others"] as const;

/**
 * Reads a verdict line ({@linkcode VERDICT}); undefined for any other line. Only for a line from
 * before {@linkcode EXEC_MARK}: the same words after it are the plugin's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readVerdict } from "./start_verdict.ts";
 * const verdict = readVerdict("plugbox refused task-budget budget=100 cap=64: no room");
 * assert.deepEqual(verdict, { reason: "task-budget", detail: "no room", budget: 100, cap: 64 });
 * ```
 */
export function readVerdict(line: string): StartVerdict | undefined {
  if (!line.startsWith(VERDICT)) return undefined;
  const colon = line.indexOf(": ", VERDICT.length);
  if (colon === -1) return undefined;
  const [reason, ...pairs] = line.slice(VERDICT.length, colon).split(" ");
  if (!REASONS.has(reason)) return undefined;
  const verdict: StartVerdict = {
    reason: reason as StartRefusalReason,
    detail: line.slice(colon + 2),
  };
  for (const pair of pairs) {
    const [name, value] = pair.split("=");
    const field = FIELDS.find((f) => f === name);
    if (field && /^\d+$/.test(value ?? "")) verdict[field] = Number(value);
  }
  return verdict;
}
