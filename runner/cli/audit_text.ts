/**
 * An audit as text for a terminal: entries grouped by kind, denied ones
 * marked, each with its count and the calls it happened in. Every value
 * was neutralised when it was recorded; a path in the plugin's snapshot is
 * shown in the plugin's own folder.
 * @module
 */

import type { AuditEntry, AuditLog } from "../host/mod.ts";
import { AUDIT_KINDS, isWithin } from "../sandbox/mod.ts";
import { neutralize } from "../wire/mod.ts";

function where(entry: AuditEntry): string {
  const places = [...new Set(entry.calls.map((c) => c.method))];
  if (entry.outsideCalls > 0) {
    places.push(entry.calls.length ? "outside calls" : "outside any call");
  }
  if (entry.ambiguous > 0) places.push(`${entry.ambiguous}x while several calls were in flight`);
  return places.join(", ");
}

/**
 * A value as a person reads it: a path in the snapshot the plugin ran from
 * is shown in the plugin's own folder (the entry keeps the path Deno
 * checked, which is what a grant must cover).
 */
function shownValue(entry: AuditEntry, log: AuditLog): string {
  const value = entry.value ?? "(the whole kind)";
  if (!PATH_KINDS.has(entry.kind) || !isWithin(value, log.snapshot)) return cut(value);
  return `${cut(`${log.root}${value.slice(log.snapshot.length)}`)} (the plugin's own folder)`;
}

/**
 * The most of a value the text view shows. Each is the plugin's choice, up to 32 KB escaped: 1,024
 * paths of 4,000 control characters made one plug audit print 16 MB to a terminal (review 123).
 * --json keeps them whole.
 */
const MAX_SHOWN_VALUE = 300;

function cut(value: string): string {
  return neutralize(value, MAX_SHOWN_VALUE);
}

const PATH_KINDS = new Set(["read", "write", "ffi"]);

function line(entry: AuditEntry, log: AuditLog, width: number): string {
  // A relative path after the plugin may have changed folder: neither verdict is known (review 123).
  const verdict = entry.uncertain ? "UNSURE " : entry.granted ? "granted" : "DENIED ";
  const value = shownValue(entry, log);
  const count = entry.count > 1 ? `  ${entry.count}x` : "";
  const hidden = entry.osLayer ? "  (not mounted: the OS layer hid it)" : "";
  const moved = entry.uncertain
    ? "  (a relative path after it may have changed folder: shown from where it started)"
    : "";
  return `  ${verdict}  ${value.padEnd(width)}${count}  ${where(entry)}${hidden}${moved}`;
}

/**
 * The audit as lines, grouped by kind in Deno's order (kinds plugbox does
 * not know last), then a summary line.
 */
export function auditLines(log: AuditLog): string[] {
  const kinds = [
    ...AUDIT_KINDS,
    ...new Set(log.entries.map((e) => e.kind).filter((k) => !AUDIT_KINDS.includes(k as never))),
  ];
  const width = Math.min(60, Math.max(0, ...log.entries.map((e) => shownValue(e, log).length)));
  const out: string[] = [];
  for (const kind of kinds) {
    const entries = log.entries.filter((e) => e.kind === kind);
    if (entries.length === 0) continue;
    out.push(kind);
    for (const entry of entries) out.push(line(entry, log, width));
  }
  if (log.entries.length === 0) out.push("nothing: no permission was checked");
  const denied = log.entries.filter((e) => !e.granted && !e.uncertain).length;
  const gaps = [
    log.dropped ? `${log.dropped} entries dropped (maxEntries)` : "",
    log.malformed ? `${log.malformed} malformed lines` : "",
    log.uncertain ? `${log.uncertain} relative paths after it may have changed folder` : "",
    log.overflow ? "killed for passing maxLogBytes" : "",
  ].filter(Boolean);
  out.push(
    `${log.checks} checks, ${log.entries.length} entries, ${denied} denied; ${
      gaps.length ? `incomplete: ${gaps.join(", ")}` : "complete"
    }`,
  );
  return out;
}
