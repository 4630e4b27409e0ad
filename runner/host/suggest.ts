/**
 * Turns audited runs into the narrowest `plugbox.json` permissions that let
 * the same calls do what they did: each path collapsed to the granted folder
 * that held it (a denied one to itself, or its nearest existing folder),
 * hosts with their ports, variable and sys names as seen; every entry with a
 * placeholder reason for the author to write. What cannot be granted by
 * name is listed as a note instead.
 * @module
 */

import { isAbsolute, sep } from "node:path";
import {
  isWithin,
  type Manifest,
  type PermissionKind,
  type PermissionRequest,
  resolveGrants,
  SYS_NAMES,
} from "../sandbox/mod.ts";
import type { AuditEntry, AuditLog } from "./audit_log.ts";

/**
 * A suggested manifest, with what it could not express.
 *
 * @example
 * ```ts ignore
 * import { suggestManifest } from "@plugbox/plugbox";
 *
 * const { manifest, notes, warnings } = suggestManifest([await plugin.audit()]);
 * for (const w of warnings) console.warn(w);
 * await Deno.writeTextFile("plugbox.json", JSON.stringify(manifest, null, 2));
 * ```
 */
export interface Suggestion {
  /** The narrowest manifest for what the runs touched, with placeholder reasons. */
  manifest: Manifest;
  /** What the runs touched that no manifest entry can grant, one line each. */
  notes: string[];
  /** Why the suggestion may be too narrow: runs whose audit was incomplete. */
  warnings: string[];
}

/**
 * Options for {@linkcode suggestManifest}.
 *
 * @example
 * ```ts ignore
 * import { suggestManifest, type SuggestOptions } from "@plugbox/plugbox";
 *
 * const options: SuggestOptions = { description: "A key-value store kept in one folder." };
 * const { manifest } = suggestManifest([await plugin.audit()], options);
 * ```
 */
export interface SuggestOptions {
  /**
   * The manifest's description.
   * @default {a placeholder}
   */
  description?: string;
}

type Wanted = Map<string, Set<string>>; // value -> where it was seen
/** A suggested value wider than what was seen -> what was seen, said in its reason. */
type Widened = Map<string, string>;

/** A path as a reason quotes it: the start of a long one, the cut marked. */
function short(path: string): string {
  return path.length > 120 ? `${path.slice(0, 117)}...` : path;
}

const PATH_KINDS: ReadonlySet<string> = new Set(["read", "write", "ffi"]);

function seenIn(entry: AuditEntry): string[] {
  const places = entry.calls.map((c) => c.method);
  if (entry.outsideCalls > 0) places.push("outside calls");
  if (entry.ambiguous > 0) places.push("concurrent calls");
  return places;
}

/**
 * The narrowest granted folder holding `path`, else `path` if it exists, else its nearest folder;
 * `widened` says what was seen when the suggestion is not that path itself.
 */
function grantablePath(
  path: string,
  granted: readonly string[],
): { path: string; note?: string; widened?: string } {
  const holders = granted.filter((g) => isWithin(path, g));
  if (holders.length > 0) return { path: holders.sort((a, b) => b.length - a.length)[0] };
  const real = realPath(path);
  if (real !== undefined) {
    return real === path ? { path } : { path: real, widened: `"${short(path)}", a link to it` };
  }
  const folder = nearestExisting(path);
  return {
    path: folder,
    note: `"${path}" does not exist here; suggested its folder "${folder}"`,
    widened: `"${short(path)}", which does not exist here`,
  };
}

function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The real path of the longest prefix of `path` (which does not exist) that does, found by
 * halving, as canonicalLoose finds it: climbed a folder at a time, each lookup a copy of the whole
 * path, 1,024 denied paths of 2,000 names each (one plug audit of a plugin that made them) took
 * plug suggest 43 s (review 123).
 */
function nearestExisting(path: string): string {
  const parts = path.split("/").filter(Boolean);
  const at = (count: number) => `/${parts.slice(0, count).join("/")}`;
  let low = 0; // "/" exists
  let high = parts.length - 1; // the path itself does not
  let found = realPath("/") ?? "/";
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    const real = realPath(at(middle));
    if (real === undefined) high = middle - 1;
    else [low, found] = [middle, real];
  }
  return found;
}

function grantableEnv(name: string): boolean {
  try {
    resolveGrants({ env: { [name]: "" } });
    return true;
  } catch {
    return false;
  }
}

/**
 * The manifest value for one entry (and what was seen, when the value is wider), or a note saying
 * why there is none.
 */
function valueFor(
  entry: AuditEntry,
  log: AuditLog,
): { value?: string; note?: string; widened?: string } {
  const { kind, value } = entry;
  const what = `${kind} ${value === null ? "(everything)" : `"${value}"`}`;
  if (value === null) return { note: `${what}: asks for the whole kind, which is never granted` };
  if (entry.uncertain) {
    return {
      note: `${what}: a relative path after it may have changed folder; where is not known`,
    };
  }
  if (PATH_KINDS.has(kind)) {
    if (value === "<TMP>") {
      return { note: `${what}: the temporary folder; grant a folder of its own` };
    }
    if (!isAbsolute(value)) return { note: `${what}: not a path that can be granted` };
    if (isWithin(value, log.snapshot)) {
      return { note: `${what}: reads its own files at run time; import them instead` };
    }
    if (["/proc", "/dev", "/sys"].some((r) => isWithin(value, r))) {
      return { note: `${what}: needs every permission (Deno's rule for /proc, /dev and /sys)` };
    }
    const granted = kind === "ffi" ? [] : log.grants[kind as "read" | "write"];
    const { path, note, widened } = grantablePath(value, granted);
    return { value: path, note: note && `${what}: ${note}`, widened };
  }
  switch (kind) {
    case "net":
      return /:\d+$/.test(value) ? { value } : { note: `${what}: not a host:port` };
    case "env":
      return grantableEnv(value)
        ? { value }
        : { note: `${what}: plugbox sets it or never grants it (it changes how Deno runs)` };
    case "sys":
      return (SYS_NAMES as readonly string[]).includes(value)
        ? { value }
        : { note: `${what}: not a sys name plugbox grants` };
    case "run":
      return { value };
    case "import":
      return { note: `${what}: imports code at run time; plugbox never loads remote modules` };
    default:
      return { note: `${what}: a permission kind plugbox does not know` };
  }
}

function collect(
  logs: readonly AuditLog[],
  notes: Set<string>,
  widened: Map<PermissionKind, Widened>,
): Map<PermissionKind, Wanted> {
  const wanted = new Map<PermissionKind, Wanted>();
  for (const log of logs) {
    for (const entry of log.entries) {
      const { value, note, widened: seen } = valueFor(entry, log);
      if (note) notes.add(note);
      if (value === undefined) continue;
      const kind = entry.kind as PermissionKind;
      if (seen !== undefined) {
        if (!widened.has(kind)) widened.set(kind, new Map());
        if (!widened.get(kind)!.has(value)) widened.get(kind)!.set(value, seen);
      }
      if (!wanted.has(kind)) wanted.set(kind, new Map());
      const places = wanted.get(kind)!;
      if (!places.has(value)) places.set(value, new Set());
      for (const place of seenIn(entry)) places.get(value)!.add(place);
    }
  }
  return wanted;
}

/**
 * The paths no other of them holds. Sorted with the separator before every other character, a
 * folder's paths follow it together, so each is judged against the last one kept: n log n. Each
 * against every other took 24 s for 16,000 paths, and hours for the million a report may hold
 * (review 85).
 */
function outermost(paths: readonly string[]): Set<string> {
  const keyed = paths.map((path) => ({ path, key: path.replaceAll(sep, "\0") }));
  keyed.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const kept = new Set<string>();
  let holder: string | undefined;
  for (const { path } of keyed) {
    if (holder !== undefined && isWithin(path, holder)) continue;
    holder = path;
    kept.add(path);
  }
  return kept;
}

/**
 * The placeholder reason. A value wider than what was seen says what was: a read of
 * "/nonexistent/x" was suggested as read "/", explained only by a note on stderr, and notes past
 * the first 100 are not shown (review 123).
 */
function reasonFor(places: Set<string>, widened?: string): string {
  const list = [...places].slice(0, 6).join(", ");
  const wider = widened ? `; suggested for ${widened}` : "";
  return `TODO: say why the plugin needs this${wider} (seen in ${list || "the audited calls"})`
    .slice(0, 300);
}

/**
 * The narrowest manifest for what one or more audited runs touched: every
 * path collapsed to the granted folder that held it (a denied path to its
 * real path, or its nearest existing folder), hosts with ports, names as
 * seen, each with a placeholder reason. Granting it as it is lets the same
 * calls do what they did.
 *
 * @example
 * ```ts ignore
 * import { startPlugin, suggestManifest } from "@plugbox/plugbox";
 * import { Summarizer } from "./plugins/summarizer/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/summarizer/main.ts", {
 *   contracts: [Summarizer],
 *   permissions: { read: ["./docs"] },
 *   audit: true,
 * });
 * await plugin.api(Summarizer).summarize(Deno.realPathSync("./docs"));
 * console.log(JSON.stringify(suggestManifest([await plugin.audit()]).manifest, null, 2));
 * ```
 */
export function suggestManifest(
  logs: readonly AuditLog[],
  options: SuggestOptions = {},
): Suggestion {
  // Review 145: anything else failed as "logs is not iterable".
  if (!Array.isArray(logs)) {
    throw new TypeError(`Cannot suggest a manifest: "logs" must be a list of audit logs`);
  }
  const notes = new Set<string>();
  const widened = new Map<PermissionKind, Widened>();
  const wanted = collect(logs, notes, widened);
  const permissions: Manifest["permissions"] = {};
  for (const [kind, places] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const values = [...places.keys()].sort();
    const outer = PATH_KINDS.has(kind) ? outermost(values) : undefined;
    const kept = outer ? values.filter((v) => outer.has(v)) : values;
    permissions[kind] = kept.map((value): PermissionRequest => ({
      value,
      reason: reasonFor(places.get(value)!, widened.get(kind)?.get(value)),
    }));
  }
  const warnings = logs.filter((l) => !l.complete).map((l) =>
    `the audit of "${l.plugin}" is incomplete (${l.dropped} entries dropped, ${l.malformed} malformed${
      l.uncertain ? `, ${l.uncertain} relative paths after it may have changed folder` : ""
    }${l.overflow ? ", killed for passing maxLogBytes" : ""}): the suggestion may be too narrow`
  );
  return {
    manifest: {
      description: options.description ?? "TODO: one line saying what the plugin does",
      permissions,
    },
    notes: [...notes],
    warnings,
  };
}
