/**
 * The `plug` command line: permission flags spelled as Deno spells them,
 * plugbox's own options, and positional arguments, parsed without
 * dependencies. A bad argument is a `UsageError` naming it.
 * @module
 */

import type { IsolationMode } from "../sandbox/mod.ts";
import type { ManifestPolicy } from "../sandbox/mod.ts";
import type { Permissions, UnsafeAcknowledgements } from "../sandbox/mod.ts";
import { didYouMean } from "../sandbox/mod.ts";

/** A command line that cannot be run as written. */
export class UsageError extends Error {
  override name = "UsageError" as const;
}

/** What a `plug` command line asks for. */
export interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  permissions: Permissions;
  unsafe: UnsafeAcknowledgements;
  timeout?: number;
  memoryLimitMiB?: number;
  isolation?: IsolationMode;
  manifest?: ManifestPolicy;
  /** The Deno binary plugins run with (`--deno=PATH`). */
  deno?: string;
  /** `--name=NAME`: the plugin's name, for a folder whose own name is not one. */
  name?: string;
  /** `--lock[=PATH]`: start only what the lock approved (default path `plugbox.lock`). */
  lock?: string;
  lockPolicy?: "refuse" | "same-or-less";
  /** `--audit`: record every permission check of the call. */
  audit: boolean;
  /** `--expect=HASH`: `approve` seals only the content of this hash (as `inspect` shows it). */
  expect?: string;
  /** `--dry-run`: show what `approve` would change, change nothing. */
  dryRun: boolean;
  /** `--unused-days=N`: `prune` removes snapshots unused for N days. */
  unusedDays?: number;
  /** `--max-mb=N`: `prune` keeps the snapshots within N MiB. */
  maxMiB?: number;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

const LIST_FLAGS = {
  "--allow-read": "read",
  "--allow-write": "write",
  "--allow-net": "net",
  "--allow-env": "env",
  "--allow-sys": "sys",
  "--allow-run": "run",
  "--allow-ffi": "ffi",
} as const;

const UNSAFE_FLAGS: Record<string, keyof UnsafeAcknowledgements> = {
  "--unsafe-run": "run",
  "--unsafe-ffi": "ffi",
  "--unsafe-all": "all",
  "--unsafe-private-network": "privateNetwork",
  "--unsafe-write-code": "writeCode",
  "--unsafe-sys-actions": "sysActions",
  "--unsafe-write-as-root": "writeAsRoot",
  "--unsafe-lock-queries": "lockQueries",
};

/** A whole number in decimal digits only: `+5`, ` 5 `, `1e3` and `0x40` mean what they say nowhere else. */
function integer(flag: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined) {
    throw new UsageError(
      `${flag} needs a value, written ${flag}=N (a whole number of ${min} to ${max})`,
    );
  }
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      `${flag} needs a whole number of ${min} to ${max} in digits, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(
      `${flag} must be ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        JSON.stringify(value ?? "")
      }`,
    );
  }
  return value as T;
}

/** Options that hold one value. */
const SINGLE_VALUED = new Set([
  "--timeout",
  "--memory",
  "--isolation",
  "--manifest",
  "--deno",
  "--name",
  "--lock",
  "--lock-policy",
  "--expect",
  "--unused-days",
  "--max-mb",
]);

/** Every option `plug` knows, for a misspelt one's "did you mean". */
const OPTIONS = [
  ...Object.keys(LIST_FLAGS),
  ...Object.keys(UNSAFE_FLAGS),
  ...SINGLE_VALUED,
  "--allow-all",
  "--json",
  "--verbose",
  "--help",
  "--audit",
  "--dry-run",
];

/** Options come before `--`; a token is an option only if it starts with `--` and a letter. */
function isOption(token: string): boolean {
  return /^--[a-z]/.test(token) || token === "-A";
}

function applyOption(parsed: ParsedArgs, token: string): void {
  const eq = token.indexOf("=");
  const flag = eq === -1 ? token : token.slice(0, eq);
  const value = eq === -1 ? undefined : token.slice(eq + 1);
  if (flag in LIST_FLAGS) {
    const kind = LIST_FLAGS[flag as keyof typeof LIST_FLAGS];
    if (!value) {
      throw new UsageError(`${flag} needs values (${flag}=a,b): plugbox grants nothing unnamed`);
    }
    const list = (parsed.permissions[kind] ?? []) as string[];
    (parsed.permissions as Record<string, string[]>)[kind] = [...list, ...value.split(",")];
    return;
  }
  if (flag === "--allow-all" || flag === "-A") {
    // `--allow-all=false` granted everything (review 91).
    if (value !== undefined) throw new UsageError(`${flag} takes no value`);
    parsed.permissions.all = true;
    return;
  }
  if (flag in UNSAFE_FLAGS) {
    if (value !== undefined) throw new UsageError(`${flag} takes no value`);
    parsed.unsafe[UNSAFE_FLAGS[flag]] = true;
    return;
  }
  switch (flag) {
    case "--timeout":
      parsed.timeout = integer(flag, value, 1, 2 ** 31 - 1);
      return;
    case "--memory":
      parsed.memoryLimitMiB = integer(flag, value, 32, 65536);
      return;
    case "--isolation":
      parsed.isolation = oneOf(flag, value, ["auto", "os", "landlock", "deno"] as const);
      return;
    case "--manifest":
      parsed.manifest = oneOf(flag, value, ["refuse", "narrow", "ignore"] as const);
      return;
    case "--deno":
      if (!value) throw new UsageError(`--deno needs the path of a Deno binary (--deno=PATH)`);
      parsed.deno = value;
      return;
    case "--name":
      // Checked where every name is (the preflight), with the library's rule and words.
      if (!value) throw new UsageError(`--name needs the plugin's name (--name=NAME)`);
      parsed.name = value;
      return;
    case "--lock":
      if (value === "") throw new UsageError(`--lock needs a path (--lock=PATH) or none`);
      parsed.lock = value ?? "plugbox.lock";
      return;
    case "--lock-policy":
      parsed.lockPolicy = oneOf(flag, value, ["refuse", "same-or-less"] as const);
      return;
    case "--json":
    case "--verbose":
    case "--help":
    case "--audit":
      if (value !== undefined) throw new UsageError(`${flag} takes no value`);
      parsed[flag.slice(2) as "json" | "verbose" | "help" | "audit"] = true;
      return;
    case "--expect":
      // All of it: two folders whose hashes share a prefix of 12 digits take whoever writes both
      // about 2^24 tries (review 94).
      if (!value || !/^[0-9a-f]{64}$/.test(value)) {
        throw new UsageError(
          `--expect needs the content hash plug inspect shows, all 64 hex digits (--expect=HASH)`,
        );
      }
      parsed.expect = value;
      return;
    case "--dry-run":
      if (value !== undefined) throw new UsageError(`${flag} takes no value`);
      parsed.dryRun = true;
      return;
    case "--unused-days":
      parsed.unusedDays = integer(flag, value, 0, 36_500);
      return;
    case "--max-mb":
      parsed.maxMiB = integer(flag, value, 0, 2 ** 30);
      return;
    default:
      // Named with the closest option there is (review 165: --timout was "unknown" and no more).
      throw new UsageError(`unknown option ${flag}${didYouMean(flag, OPTIONS)}`);
  }
}

/**
 * Parses `plug` arguments: the command first, then options and positional
 * arguments in any order; after `--` everything is positional (a JSON
 * argument such as `--1` would otherwise look like an option).
 *
 * @throws {UsageError} naming the bad argument.
 */
export function parseArgs(args: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = {
    command: undefined,
    positional: [],
    permissions: {},
    unsafe: {},
    audit: false,
    dryRun: false,
    json: false,
    verbose: false,
    help: false,
  };
  let rest = false;
  const given = new Set<string>();
  for (const token of args) {
    if (!rest && token === "--") rest = true;
    else if (!rest && (token === "-h")) parsed.help = true;
    else if (!rest && isOption(token)) {
      // A value given twice: a script that appends options would get the last one silently,
      // a weaker --lock-policy included.
      const flag = token.split("=", 1)[0];
      if (SINGLE_VALUED.has(flag) && given.has(flag)) {
        throw new UsageError(`${flag} is given twice; give it once`);
      }
      given.add(flag);
      applyOption(parsed, token);
    } else if (parsed.command === undefined) parsed.command = token;
    else parsed.positional.push(token);
  }
  checkApplies(parsed);
  checkUsed(parsed, given);
  return parsed;
}

/**
 * Options that change what a command does, refused where they do not apply: taken silently,
 * `call --dry-run` ran the plugin, and `--lock-policy=refuse` without `--lock` started it with
 * no lock at all (review 91).
 */
function checkApplies(parsed: ParsedArgs): void {
  if (parsed.help || parsed.command === "help") return; // help runs nothing
  if (parsed.dryRun && parsed.command !== "approve") {
    throw new UsageError(`--dry-run applies to plug approve only; no other command has a dry run`);
  }
  if (parsed.expect !== undefined && parsed.command !== "approve") {
    throw new UsageError(`--expect applies to plug approve only`);
  }
  if (parsed.lockPolicy !== undefined && parsed.lock === undefined) {
    throw new UsageError(`--lock-policy applies to a locked start: give --lock[=PATH] too`);
  }
}

/** The options a plan reads: grants, acknowledgements and how the plugin is started. */
const PLANNED = [
  "grants",
  "--isolation",
  "--memory",
  "--manifest",
  "--deno",
  "--name",
  "--lock",
  "--lock-policy",
];

/**
 * The options each command reads (`--help` and `--verbose` any command does). Taken silently,
 * `plug check --timeout=1` checked without one, `plug inspect --manifest=refuse` reviewed with
 * the manifest ignored, `plug approve --lock --lock-policy=refuse` approved under no policy, and
 * `plug suggest --allow-read=/` suggested from the reports alone (review 149).
 */
const USED: Record<string, readonly string[]> = {
  call: [...PLANNED, "--timeout", "--audit"],
  audit: [...PLANNED, "--timeout", "--audit", "--json"],
  inspect: [...PLANNED.filter((f) => f !== "--manifest"), "--timeout", "--json"],
  check: [...PLANNED, "--json"],
  approve: [...PLANNED.filter((f) => f !== "--lock-policy"), "--json", "--dry-run", "--expect"],
  suggest: ["--json"],
  prune: ["--unused-days", "--max-mb", "--json"],
};

function checkUsed(parsed: ParsedArgs, given: Set<string>): void {
  const used = Object.hasOwn(USED, parsed.command ?? "") ? USED[parsed.command!] : undefined;
  if (!used || parsed.help) return; // an unknown command is refused as one; help runs nothing
  for (const flag of given) {
    const grant = flag in LIST_FLAGS || flag in UNSAFE_FLAGS || flag === "--allow-all" ||
      flag === "-A";
    if (flag === "--verbose" || flag === "--help" || used.includes(grant ? "grants" : flag)) {
      continue;
    }
    throw new UsageError(
      `${flag} does nothing in plug ${parsed.command}; see plug ${parsed.command} --help`,
    );
  }
}

/** Parses JSON arguments, naming the one that is not JSON. */
export function parseJsonArgs(values: readonly string[]): unknown[] {
  return values.map((value, i) => {
    try {
      return JSON.parse(value);
    } catch {
      throw new UsageError(
        `argument ${i + 1} is not JSON: ${JSON.stringify(value)} (strings need quotes: '"text"')`,
      );
    }
  });
}
