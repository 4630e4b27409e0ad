/**
 * The plugin manifest: `plugbox.json` at the plugin's root declares each
 * permission the plugin needs, with a one-line reason. It is data, read
 * without running the plugin, and the host grants at most what it requests.
 * @module
 */

import { isAbsolute, join } from "node:path";
import { z } from "npm:zod@^4.1.0";
import { PreflightError } from "../errors.ts";
import { canonicalLoose, isWithin, tidySpelling } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";
import { neutralize } from "../wire/mod.ts";
import { parseCapped, refuseKeysTwice } from "./json_file.ts";
import { didYouMean } from "./suggest.ts";

/** The manifest's file name, at the plugin's root. */
export const MANIFEST_FILE = "plugbox.json";

/** The largest manifest read, in bytes; a manifest is a few lines. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** Its shape before it is parsed: the schema is four levels deep, and holds at most 801 requests. */
const MANIFEST_STRUCTURE = { maxDepth: 8, maxMembers: 4096 };

/**
 * One kind of permission.
 *
 * @example
 * ```ts
 * import type { PermissionKind } from "./manifest.ts";
 *
 * // The kinds that escape the sandbox, and so need an `unsafe` acknowledgement.
 * const escapes: PermissionKind[] = ["run", "ffi", "all"];
 * ```
 */
export type PermissionKind = "read" | "write" | "net" | "env" | "sys" | "run" | "ffi" | "all";

/** Permission kinds a manifest can request. */
export const MANIFEST_KINDS: readonly PermissionKind[] = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "all",
];

/**
 * One requested permission: a value (`"*"` for any) and why it is needed.
 *
 * @example
 * ```ts
 * import type { PermissionRequest } from "./manifest.ts";
 *
 * const request: PermissionRequest = {
 *   value: "api.example.com:443",
 *   reason: "fetches the pages it summarises",
 * };
 * ```
 */
export interface PermissionRequest {
  /** A path, `host[:port]`, variable or sys name, or `"*"` for whatever the host grants. */
  value: string;
  /** One line saying why. */
  reason: string;
}

/**
 * What a plugin declares in `plugbox.json`.
 *
 * @example
 * ```ts
 * import type { Manifest } from "./manifest.ts";
 *
 * // The parsed content of a plugin's plugbox.json.
 * const manifest: Manifest = {
 *   description: "Counts lines and words in the text files of a folder.",
 *   permissions: { read: [{ value: "*", reason: "reads the folder it is asked to summarise" }] },
 * };
 * ```
 */
export interface Manifest {
  /** One line saying what the plugin does. */
  description?: string;
  /** The permissions it needs, by kind. */
  permissions: Partial<Record<PermissionKind, PermissionRequest[]>>;
  /**
   * For a plugin in another language: the command that runs it, program
   * first (`["python3", "main.py"]`), speaking plugbox's protocol. Such a
   * plugin runs only under the OS layer.
   */
  command?: string[];
}

/**
 * What to do with grants the manifest does not request.
 *
 * @example
 * ```ts
 * import type { ManifestPolicy } from "./manifest.ts";
 *
 * // Grant only what plugbox.json requests, dropping the rest instead of refusing to start.
 * const policy: ManifestPolicy = "narrow";
 * ```
 */
export type ManifestPolicy = "refuse" | "narrow" | "ignore";

/**
 * One granted value the manifest does not cover.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { UncoveredGrant } from "./manifest.ts";
 *
 * const describe = (grant: UncoveredGrant) => `${grant.kind} "${grant.value}" is not requested`;
 * const grant: UncoveredGrant = { kind: "net", value: "example.com:443" };
 * assert.equal(describe(grant), 'net "example.com:443" is not requested');
 * ```
 */
export interface UncoveredGrant {
  /** The permission kind. */
  kind: PermissionKind;
  /** The granted value: a path, host, variable or sys name, `"*"` for `all`. */
  value: string;
}

/**
 * One request as reviewed: for paths, the canonical path it covers, which
 * is what a grant is compared with and what a reviewer should read (a
 * request for `/srv/app/../../etc` covers `/etc`).
 *
 * @example
 * ```ts
 * import type { ReviewedRequest } from "./manifest.ts";
 *
 * const request: ReviewedRequest = {
 *   kind: "read",
 *   value: "/srv/app/../../etc",
 *   covers: "/etc",
 *   reason: "reads its settings",
 * };
 * ```
 */
export interface ReviewedRequest {
  /** The permission kind. */
  kind: PermissionKind;
  /** The value as the manifest spells it (neutralised for display). */
  value: string;
  /** What it covers: the canonical path for `read`, `write` and `ffi`, else the value. */
  covers: string;
  /** Why, as the manifest says (neutralised for display). */
  reason: string;
}

/**
 * The manifest next to the grants: what was asked, and what was granted beyond it.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const { manifest } = await previewStart("./plugins/kv/main.ts", { manifest: "ignore" });
 * if (!manifest.found) console.warn("no plugbox.json: the plugin requests nothing");
 * for (const { kind, value } of manifest.uncovered) {
 *   console.warn(`granted beyond plugbox.json: ${kind} ${value}`);
 * }
 * ```
 */
export interface ManifestReview {
  /** The manifest (an empty one when the plugin has no `plugbox.json`). */
  manifest: Manifest;
  /** Whether `plugbox.json` exists. */
  found: boolean;
  /** Grants the manifest does not cover (refused, dropped, or let through per policy). */
  uncovered: UncoveredGrant[];
  /** Every request with what it covers, in manifest order. */
  requests: ReviewedRequest[];
}

const Line = z.string().min(1).max(300).refine((v) => !/[\n\r]/.test(v), "must be one line");
const Request = z.strictObject({ value: z.string().min(1).max(1000), reason: Line });
const ManifestSchema = z.strictObject({
  description: Line.optional(),
  permissions: z.strictObject(
    Object.fromEntries(MANIFEST_KINDS.map((k) => [k, z.array(Request).max(100).optional()])),
  ).optional(),
  command: z.array(z.string().min(1).max(4096).refine((v) => !v.includes("\0"), "no NUL"))
    .min(1).max(64).optional(),
});

const ROOT_KEYS = ["description", "permissions", "command"];
const REQUEST_KEYS = ["value", "reason"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unknownKey(where: string, key: string, known: readonly string[]): string {
  return `has an unknown key "${neutralize(key, 64)}"${where}${didYouMean(key, known)}; ` +
    `allowed: ${known.map((k) => `"${k}"`).join(", ")}`;
}

/** The first key that is not allowed, named with the closest allowed one. */
function findUnknownKey(raw: unknown): string | undefined {
  if (!isObject(raw)) return undefined;
  for (const key of Object.keys(raw)) {
    if (!ROOT_KEYS.includes(key)) return unknownKey("", key, ROOT_KEYS);
  }
  if (!isObject(raw.permissions)) return undefined;
  for (const [kind, list] of Object.entries(raw.permissions)) {
    if (!(MANIFEST_KINDS as readonly string[]).includes(kind)) {
      return unknownKey(` in "permissions"`, kind, MANIFEST_KINDS);
    }
    for (const [i, request] of (Array.isArray(list) ? list : []).slice(0, 100).entries()) {
      for (const key of isObject(request) ? Object.keys(request) : []) {
        if (!REQUEST_KEYS.includes(key)) {
          return unknownKey(` in "permissions.${kind}[${i}]"`, key, REQUEST_KEYS);
        }
      }
    }
  }
  return undefined;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  // Keys and zod's message can quote the plugin's text.
  const path = neutralize(
    issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`)
      .join("").replace(/^\./, ""),
    200,
  );
  let value: unknown = raw;
  for (const key of issue.path) {
    value = isObject(value) || Array.isArray(value)
      ? (value as Record<PropertyKey, unknown>)[key]
      : undefined;
  }
  if (issue.code === "invalid_type" && value === undefined) {
    return `is missing "${path}" (expected ${issue.expected})`;
  }
  return `is malformed at "${path || "(root)"}": ${neutralize(issue.message, 300)}`;
}

/**
 * Reads and validates `plugbox.json` from a folder (the snapshot). A missing
 * file is an empty manifest: the plugin requests nothing.
 *
 * @throws {PreflightError} naming the field when the manifest is malformed.
 */
export function readManifest(
  plugin: string,
  dir: string,
  shownDir: string = dir,
): { manifest: Manifest; found: boolean } {
  const path = join(shownDir, MANIFEST_FILE);
  const file = join(dir, MANIFEST_FILE);
  const refuse = (detail: string): never => {
    throw new PreflightError({
      plugin,
      reason: "manifest",
      path,
      detail: `"${neutralize(path, 300)}" ${neutralize(detail, 500)}`,
    });
  };
  let bytes: Uint8Array;
  try {
    // The snapshot holds regular files only, so the size is known before reading.
    const info = Deno.statSync(file);
    if (!info.isFile) refuse("is not a regular file");
    const size = info.size;
    if (size > MAX_MANIFEST_BYTES) {
      refuse(`is ${size} bytes, over the ${MAX_MANIFEST_BYTES} allowed`);
    }
    bytes = Deno.readFileSync(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { manifest: { permissions: {} }, found: false };
    }
    throw error;
  }
  const { raw, shape } = parseCapped(bytes, MANIFEST_STRUCTURE, refuse);
  if (!isObject(raw)) refuse("must hold a JSON object");
  refuseKeysTwice(raw, shape, refuse);
  const unknown = findUnknownKey(raw);
  if (unknown) refuse(unknown);
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) refuse(describeIssue(raw, parsed.error.issues[0]));
  const manifest = { ...parsed.data!, permissions: parsed.data!.permissions ?? {} } as Manifest;
  for (const kind of PATH_KINDS) {
    for (const request of manifest.permissions[kind] ?? []) {
      if (request.value !== "*" && !isAbsolute(request.value)) {
        refuse(`asks for ${kind} "${request.value}": paths must be absolute, or "*"`);
      }
    }
  }
  return { manifest, found: true };
}

/**
 * The kinds whose requests are paths, compared as the grants are: by their
 * canonical path, a folder covering what lies below it (Deno's `--allow-ffi`
 * of a folder allows the libraries in it). An ffi request compared as
 * spelled with the grant's real path refused a grant of the very path
 * requested, through a link (`/lib/x86_64-linux-gnu/libz.so.1`, review 137).
 */
const PATH_KINDS = ["read", "write", "ffi"] as const;

const isPathKind = (kind: PermissionKind) => (PATH_KINDS as readonly string[]).includes(kind);

/** What a request covers: a path request's canonical path (THREATS T15), else its value. */
function coverage(kind: PermissionKind, value: string): string {
  if (value === "*") return value;
  // A program by path in a run grant's one form (permissions.ts programPath).
  if (kind === "run") return isAbsolute(value) ? tidySpelling(value) : value;
  return isPathKind(kind) ? canonicalLoose(value) : value;
}

/** Every request of a manifest with what it covers. */
export function reviewRequests(manifest: Manifest): ReviewedRequest[] {
  return MANIFEST_KINDS.flatMap((kind) =>
    (manifest.permissions[kind] ?? []).map((r) => ({
      kind,
      value: neutralize(r.value, 1000),
      covers: neutralize(coverage(kind, r.value), 1000),
      reason: neutralize(r.reason, 300),
    }))
  );
}

function covers(kind: PermissionKind, covered: string, granted: string): boolean {
  if (covered === "*") return true;
  switch (kind) {
    case "read":
    case "write":
    case "ffi":
      return isWithin(granted, covered);
    case "net":
      // "host" asks for every port of host; "host:port" for that one.
      return granted === covered || granted.replace(/:\d+$/, "") === covered;
    default:
      return granted === covered;
  }
}

function grantedValues(grants: ResolvedGrants): UncoveredGrant[] {
  const out: UncoveredGrant[] = [];
  for (const kind of ["read", "write", "net", "sys", "run", "ffi"] as const) {
    for (const value of grants[kind]) out.push({ kind, value });
  }
  for (const name of Object.keys(grants.env)) out.push({ kind: "env", value: name });
  if (grants.all) out.push({ kind: "all", value: "*" });
  return out;
}

/** The grants the manifest does not cover, compared with what each request covers. */
export function reviewGrants(manifest: Manifest, grants: ResolvedGrants): UncoveredGrant[] {
  const requests = MANIFEST_KINDS.flatMap((kind) =>
    (manifest.permissions[kind] ?? []).map((r) => ({ kind, covered: coverage(kind, r.value) }))
  );
  return grantedValues(grants).filter(({ kind, value }) =>
    !requests.some((r) => r.kind === kind && covers(kind, r.covered, value))
  );
}

/** Grants without the uncovered ones: the intersection with the manifest. */
export function narrowGrants(grants: ResolvedGrants, uncovered: UncoveredGrant[]): ResolvedGrants {
  const drop = (kind: PermissionKind, value: string) =>
    uncovered.some((u) => u.kind === kind && u.value === value);
  return {
    read: grants.read.filter((v) => !drop("read", v)),
    write: grants.write.filter((v) => !drop("write", v)),
    net: grants.net.filter((v) => !drop("net", v)),
    env: Object.fromEntries(Object.entries(grants.env).filter(([k]) => !drop("env", k))),
    sys: grants.sys.filter((v) => !drop("sys", v)),
    run: grants.run.filter((v) => !drop("run", v)),
    ffi: grants.ffi.filter((v) => !drop("ffi", v)),
    all: grants.all && !drop("all", "*"),
  };
}

/** Reviews the grants against the manifest and applies the policy's refusal. */
export function applyManifest(
  plugin: string,
  snapshotDir: string,
  grants: ResolvedGrants,
  policy: ManifestPolicy,
  notes: string[],
  shownDir: string = snapshotDir,
): ManifestReview {
  if (!["refuse", "narrow", "ignore"].includes(policy)) {
    throw new TypeError(
      `Cannot start plugin "${plugin}": "manifest" must be "refuse", "narrow" or "ignore", got "${policy}"`,
    );
  }
  const { manifest, found } = readManifest(plugin, snapshotDir, shownDir);
  const uncovered = reviewGrants(manifest, grants);
  const requests = reviewRequests(manifest);
  if (uncovered.length === 0) return { manifest, found, uncovered, requests };
  const asked = found
    ? `its ${MANIFEST_FILE} requests ${describeRequests(requests)}`
    : `it has no ${MANIFEST_FILE}, so it requests nothing`;
  if (policy === "refuse") {
    throw new PreflightError({
      plugin,
      reason: "manifest",
      detail: `the grants exceed what the plugin requests: ${
        describeUncovered(uncovered)
      } not requested (${asked})`,
    });
  }
  notes.push(
    policy === "narrow"
      ? `grants narrowed to the manifest: dropped ${describeUncovered(uncovered)}`
      : `manifest ignored: granted beyond it ${describeUncovered(uncovered)}`,
  );
  return { manifest, found, uncovered, requests };
}

/** Describes uncovered grants for a message: `read "/data", net "x:1"`. */
export function describeUncovered(uncovered: UncoveredGrant[]): string {
  return uncovered.map((u) => `${u.kind} "${neutralize(u.value, 1000)}"`).join(", ");
}

/** Describes one reviewed request: `read "/etc"`, or `read "/etc" (written "/srv/../etc")`. */
export function describeRequest(r: ReviewedRequest): string {
  return r.covers === r.value
    ? `${r.kind} "${r.value}"`
    : `${r.kind} "${r.covers}" (written "${r.value}")`;
}

/** Describes a manifest's requests for a message: `read "*" (reads the files ...)`. */
export function describeRequests(requests: ReviewedRequest[]): string {
  // The manifest is the plugin's text: a refusal quotes some of it, not all (a 62 KB manifest
  // of escapes made a 250,000-character message, review 41).
  const parts = listSome(requests, (r) => cut(`${describeRequest(r)} (${r.reason})`, 160));
  return parts.length ? parts.join("; ") : "nothing";
}

/** Items a message lists before it counts the rest. */
const SHOWN_ITEMS = 20;

/**
 * At most 20 of `items`, each described, then how many more there are: a
 * message that quotes what a plugin asked for quotes some of it, not all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listSome } from "./manifest.ts";
 * const many = Array.from({ length: 25 }, (_, i) => i);
 * assert.equal(listSome(many, String).at(-1), "5 more");
 * ```
 */
export function listSome<T>(items: readonly T[], describe: (item: T) => string): string[] {
  const shown = items.slice(0, SHOWN_ITEMS).map(describe);
  if (items.length > SHOWN_ITEMS) shown.push(`${items.length - SHOWN_ITEMS} more`);
  return shown;
}

/**
 * `text` cut to `max` characters, `...` marking the cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cut } from "./manifest.ts";
 * assert.equal(cut("abcdef", 5), "ab...");
 * ```
 */
export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
