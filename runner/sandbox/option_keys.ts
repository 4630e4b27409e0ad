/**
 * The names a launch's options may have, so that a misspelt one is refused
 * by name (with the closest known name) instead of taken for "not given":
 * `lokc: { path }` started a plugin no lock had approved, `isolaton: "os"`
 * one under whatever layer "auto" found, and `snapshotLimits: { maxFiels }`
 * snapshotted with the default (review 165). Own enumerable string keys
 * only: a key inherited from a prototype of the options' own, or not
 * enumerable, is refused ({@linkcode refuseHiddenKeys}, review 167), and
 * symbols are never read.
 * @module
 */

import type { AuditOptions } from "./audit_setup.ts";
import type { CpuLimits } from "./cpu_limits.ts";
import type { LockOptions } from "./lock.ts";
import type { LaunchOptions } from "./plan.ts";
import type { SnapshotLimits } from "./snapshot.ts";
import { didYouMean } from "./suggest.ts";
import { neutralize } from "../wire/mod.ts";
import { messageOf } from "../thrown_text.ts";

/** Every option of {@linkcode LaunchOptions} (the compiler keeps the list whole and exact). */
export const LAUNCH_KEYS: readonly string[] = Object.keys(
  {
    name: true,
    root: true,
    permissions: true,
    unsafe: true,
    isolation: true,
    cpu: true,
    memoryLimitMiB: true,
    cacheDir: true,
    preflightTimeout: true,
    snapshotLimits: true,
    snapshotCacheBytes: true,
    manifest: true,
    deno: true,
    command: true,
    audit: true,
    lock: true,
    signal: true,
  } satisfies Record<keyof LaunchOptions, true>,
);

/** The members of the launch options that are option objects themselves. */
const NESTED: Record<string, readonly string[]> = {
  lock: Object.keys({ path: 1, policy: 1, ask: 1, key: 1 } satisfies Record<keyof LockOptions, 1>),
  audit: Object.keys({ maxEntries: 1, maxLogBytes: 1 } satisfies Record<keyof AuditOptions, 1>),
  cpu: Object.keys({ share: 1, totalMs: 1, maxTasks: 1 } satisfies Record<keyof CpuLimits, 1>),
  snapshotLimits: Object.keys(
    { maxFiles: 1, maxBytes: 1, maxDepth: 1, maxEntries: 1 } satisfies Record<
      keyof SnapshotLimits,
      1
    >,
  ),
};

/**
 * `<reading> threw: <its message>` as a `TypeError`, the message read where reading it cannot
 * throw and quoted in part: a getter's or a Proxy's own error, bare, named no option (review 165).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readingThrew } from "./option_keys.ts";
 * const error = readingThrew(`Cannot start plugin: reading its "cpu"`, new Error("gone"));
 * assert.equal(error.message, `Cannot start plugin: reading its "cpu" threw: gone`);
 * ```
 */
export function readingThrew(reading: string, error: unknown): TypeError {
  return new TypeError(`${reading} threw: ${neutralize(messageOf(error), 300)}`, { cause: error });
}

/**
 * Refuses the first own key of `options` not in `known`, naming it (under `prefix`, as
 * `lock.polcy`) and the closest known one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseUnknownKeys } from "./option_keys.ts";
 * assert.throws(
 *   () => refuseUnknownKeys("Cannot start plugin", { callTimout: 5 }, ["callTimeout"]),
 *   /unknown option "callTimout" \(did you mean "callTimeout"\?\)/,
 * );
 * ```
 * @throws {TypeError} naming the key.
 */
export function refuseUnknownKeys(
  what: string,
  options: object,
  known: readonly string[],
  prefix = "",
): void {
  let keys: string[];
  try {
    keys = Object.keys(options);
  } catch (error) {
    const whose = prefix ? `its option "${prefix.slice(0, -1)}"` : "its options";
    throw readingThrew(`${what}: reading ${whose}`, error);
  }
  for (const key of keys) {
    if (known.includes(key)) continue;
    const shown = neutralize(key, 64);
    const near = didYouMean(key, known).replace(/"([^"]*)"/, `"${prefix}$1"`);
    // A short list is named whole; a long one (a start's 45 options) only by its closest.
    const listed = known.length > 8
      ? ""
      : `; it has ${known.map((k) => `"${prefix}${k}"`).join(", ")}`;
    throw new TypeError(`${what}: unknown option "${prefix}${shown}"${near}${listed}`);
  }
}

/**
 * Refuses an option `options` holds where a start does not read it: inherited from a prototype
 * of its own (not `Object`'s) or not enumerable. A start copies its options' own enumerable keys,
 * so `Object.create({ lock: { path } })` started a plugin no lock approved, and
 * `Object.create({ isolation: "os" })` one under "auto"'s layer, while previewStart read both
 * through the object and planned what no start ran (review 167).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseHiddenKeys } from "./option_keys.ts";
 * refuseHiddenKeys("Cannot start plugin", { isolation: "os" });
 * assert.throws(
 *   () => refuseHiddenKeys("Cannot start plugin", Object.create({ isolation: "os" })),
 *   /option "isolation" is inherited from its options' prototype/,
 * );
 * ```
 * @throws {TypeError} naming the key, after `what`.
 */
export function refuseHiddenKeys(what: string, options: object): void {
  let found: { key: string; how: string } | undefined;
  try {
    const hidden = Object.getOwnPropertyNames(options)
      .find((key) => !Object.prototype.propertyIsEnumerable.call(options, key));
    if (hidden !== undefined) found = { key: hidden, how: "is not enumerable" };
    let proto = Object.getPrototypeOf(options);
    while (!found && proto !== null && proto !== Object.prototype) {
      const inherited = Object.keys(proto).find((key) => !Object.hasOwn(options, key));
      if (inherited !== undefined) {
        found = { key: inherited, how: "is inherited from its options' prototype" };
      }
      proto = Object.getPrototypeOf(proto);
    }
  } catch (error) {
    throw readingThrew(`${what}: reading its options`, error);
  }
  if (!found) return;
  throw new TypeError(
    `${what}: option "${
      neutralize(found.key, 64)
    }" ${found.how}, and a start reads only its options' own enumerable keys: give it as one`,
  );
}

/**
 * Refuses a misspelt option: one of `options` not in `known` (the launch options, or a start's
 * with them), or one of their own option objects' (`lock`, `audit`, `cpu`, `snapshotLimits`).
 *
 * @throws {TypeError} naming the key, after `what`.
 */
export function refuseUnknownOptions(
  what: string,
  options: object,
  known: readonly string[] = LAUNCH_KEYS,
): void {
  refuseHiddenKeys(what, options);
  refuseUnknownKeys(what, options, known);
  const given = options as Record<string, unknown>;
  for (const [member, names] of Object.entries(NESTED)) {
    const value = given[member];
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      refuseUnknownKeys(what, value, names, `${member}.`);
    }
  }
  // Of the wrong kind, these were taken as none: `cpu: 5` and `permissions: []` started a plugin
  // with no limit and no grant, `name: 5` named it 5, and `deno: 5` was Node's "The "path" argument
  // must be of type string", naming no option (review 165).
  for (const member of ["permissions", "unsafe", "cpu", "snapshotLimits", "lock", "audit"]) {
    const value = given[member];
    if (value === undefined || (member === "audit" && typeof value === "boolean")) continue;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      const wanted = member === "audit" ? "true or an object" : "an object";
      throw new TypeError(`${what}: "${member}" must be ${wanted}, got ${kindOf(value)}`);
    }
  }
  for (const member of ["name", "deno"]) {
    const value = given[member];
    if (value !== undefined && typeof value !== "string") {
      throw new TypeError(`${what}: "${member}" must be a string, got ${kindOf(value)}`);
    }
  }
}

function kindOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "a list" : typeof value;
}
