/**
 * The permission object a host grants, validated and turned into exact Deno
 * flags. Deny by default: what is not granted is not passed.
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import type { RuntimeNames } from "./env_names.ts";
import { allowFlags } from "./command_line.ts";
import {
  checkWrites,
  envGrants,
  refuseInsideOthersWrites,
  refusePlantedLinks,
  writtenBefore,
} from "./grant_rules.ts";
import { canonicalNetGrant, isPrivateHost } from "./net.ts";
import { onDiskOnce } from "./on_disk.ts";
import { absolutePath, type Chain, resolveChain } from "./paths.ts";
import { programPath } from "./program_grant.ts";
import { SYS_ACTIONS, SYS_NAMES, type SysName } from "./sys_names.ts";
import { didYouMean } from "./suggest.ts";
import { neutralize } from "../wire/mod.ts";
import { refuseGrant } from "./grant_refusal.ts";

export { SYS_ACTIONS, SYS_NAMES, SYS_READS, type SysName } from "./sys_names.ts";
export { runsAsRoot } from "./grant_rules.ts";

/**
 * What a host may grant a plugin. Every field is optional and empty means denied.
 *
 * @example
 * ```ts
 * import type { Permissions } from "./permissions.ts";
 *
 * const permissions: Permissions = {
 *   read: ["/srv/data"],
 *   net: ["api.example.com:443"],
 *   env: { API_URL: "https://api.example.com" },
 * };
 * ```
 */
export interface Permissions {
  /** Files or folders the plugin may read (resolved to absolute real paths). */
  read?: readonly string[];
  /** Files or folders the plugin may write (resolved to absolute real paths). */
  write?: readonly string[];
  /** `host` or `host:port` the plugin may connect to (`[::1]:8080` for IPv6). */
  net?: readonly string[];
  /**
   * Environment variables the plugin may read: names copied from the host's
   * environment, or an object of names to values.
   */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /**
   * System information APIs, as Deno names them (`hostname`, `osRelease`,
   * ...). Actions (`setPriority`) need `unsafe.sysActions`.
   */
  sys?: readonly SysName[];
  /**
   * Programs the plugin may run, by path (absolute, or relative to `cwd`; a
   * bare name is refused). Escapes the sandbox: needs `unsafe.run`.
   */
  run?: readonly string[];
  /**
   * Native libraries the plugin may load (resolved to absolute real paths:
   * Deno checks the name the plugin loads, so it loads that one, not a link
   * to it). Escapes the sandbox: needs `unsafe.ffi`.
   */
  ffi?: readonly string[];
  /** Every permission. Needs `unsafe.all`. */
  all?: boolean;
}

/**
 * Named acknowledgements for grants that defeat the sandbox. Each must be
 * `true` for the matching grant to be accepted.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Fetcher } from "./plugins/fetcher/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/fetcher/main.ts", {
 *   contracts: [Fetcher],
 *   permissions: { net: ["127.0.0.1:8080"] },
 *   unsafe: { privateNetwork: true }, // a loopback grant is refused without it
 * });
 * ```
 */
export interface UnsafeAcknowledgements {
  /** Accept `permissions.run`: a child process is not sandboxed by Deno. */
  run?: boolean;
  /** Accept `permissions.ffi`: native code ignores every permission. */
  ffi?: boolean;
  /** Accept `permissions.all`. */
  all?: boolean;
  /** Accept net grants to loopback, private, link-local or `localhost` hosts. */
  privateNetwork?: boolean;
  /** Accept write grants over code: the plugin's folder, plugbox's caches, the host's code. */
  writeCode?: boolean;
  /** Accept sys grants that act rather than read (`setPriority` renices other processes). */
  sysActions?: boolean;
  /**
   * Accept write grants while the host runs as root: the plugin's files are
   * then root's, and it could leave set-UID executables or world-writable
   * folders there for someone else to run (Deno's permissions do not see
   * file modes).
   */
  writeAsRoot?: boolean;
  /**
   * Accept that the plugin's native code (a command plugin; a `run`, `ffi`
   * or `all` grant) asks who holds a record lock (`F_GETLK`,
   * `F_OFD_GETLK`), which the OS layers' filter otherwise refuses it.
   * SQLite asks before it rolls back a journal a killed writer left, in
   * `journal_mode=PERSIST` and for WAL's shared memory: refused, each is a
   * "disk I/O error". Accepted, the plugin may read a bit another plugin's
   * native code sets by a lock on a file both may read (review 144).
   */
  lockQueries?: boolean;
}

/**
 * Grants after validation: absolute real paths, exact hosts, env values resolved.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const { grants } = await previewStart("./plugins/summarizer/main.ts", {
 *   permissions: { read: ["./docs"] },
 * });
 * console.log(grants.read); // ["/home/me/app/docs"]: absolute and real
 * ```
 */
export interface ResolvedGrants {
  /** Absolute real paths the plugin may read. */
  read: string[];
  /** Absolute real paths the plugin may write. */
  write: string[];
  /** `host` or `host:port` entries the plugin may connect to. */
  net: string[];
  /** Variables set in the plugin's environment (and readable by it), with their values. */
  env: Record<string, string>;
  /** System information APIs allowed. */
  sys: string[];
  /** Programs allowed (acknowledged as unsafe). */
  run: string[];
  /** Native libraries allowed (acknowledged as unsafe). */
  ffi: string[];
  /** Every permission (acknowledged as unsafe). */
  all: boolean;
}

// Characters that would let a value break out of its --allow-x=a,b flag.
const FLAG_SAFE = z.string().min(1, "must not be empty")
  .refine((v) => !/[,\n\r\0=]/.test(v), 'must not contain ",", "=", a newline or NUL')
  .refine((v) => !v.startsWith("-"), 'must not start with "-"');

const HOST =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?)(?::(\d{1,5}))?$/;

const NetEntry = FLAG_SAFE.refine((v) => {
  const match = HOST.exec(v);
  if (!match || canonicalNetGrant(v) === undefined) return false;
  const port = match[1] === undefined ? 1 : Number(match[1]);
  return port >= 1 && port <= 65535;
}, "must be host or host:port (IPv6 in brackets), port 1-65535");

// Names are checked against the runtime's own (env_names.ts) after parsing.
const EnvName = z.string().min(1, "must not be empty").max(128, "must be at most 128 characters");

const PermissionsSchema = z.strictObject({
  read: z.array(FLAG_SAFE).optional(),
  write: z.array(FLAG_SAFE).optional(),
  net: z.array(NetEntry).optional(),
  env: z.union([
    z.array(EnvName),
    z.record(EnvName, z.string().refine((v) => !v.includes("\0"), "must not contain NUL")),
  ]).optional(),
  sys: z.array(z.enum(SYS_NAMES)).optional(),
  run: z.array(FLAG_SAFE).optional(),
  ffi: z.array(FLAG_SAFE).optional(),
  all: z.boolean().optional(),
});

const UnsafeSchema = z.strictObject({
  run: z.boolean().optional(),
  ffi: z.boolean().optional(),
  all: z.boolean().optional(),
  privateNetwork: z.boolean().optional(),
  writeCode: z.boolean().optional(),
  sysActions: z.boolean().optional(),
  writeAsRoot: z.boolean().optional(),
  lockQueries: z.boolean().optional(),
});

/** Where grants are resolved against and what counts as code. */
export interface ResolveGrantsOptions {
  /** Named acknowledgements for unsafe grants. */
  unsafe?: UnsafeAcknowledgements;
  /** Folders holding code that a write grant must not overlap (canonical paths). */
  codeRoots?: readonly string[];
  /**
   * The plugin (plugbox passes its name and folder). Given, its grants are
   * checked against every folder a plugin launched in this process was
   * given to write, but for its own write grants now.
   */
  plugin?: string;
  /**
   * Why the host's code cannot be located (a Web Worker): every write grant
   * is then refused, unless `unsafe.writeCode`.
   */
  codeUnknown?: string;
  /**
   * The names the Deno runtime and its libraries mention; env grants of
   * those are refused.
   * @default {runtimeNames(ownRuntimeFiles()): this Deno and the libraries it loaded}
   */
  runtimeNames?: RuntimeNames;
  /**
   * Whether the host runs as root (write grants then need
   * `unsafe.writeAsRoot`).
   * @default {Deno.uid() === 0, or the owner of /proc/self}
   */
  hostIsRoot?: boolean;
  /** The host's environment, for env grants given by name. */
  hostEnv?: (name: string) => string | undefined;
  /**
   * Base for relative paths.
   * @default {Deno.cwd()}
   */
  cwd?: string;
}

/** A name a strict schema does not know, with the closest it does (review 165). */
function unknownName(what: string, name: string, schema: { shape: object }): string {
  const known = Object.keys(schema.shape);
  return `unknown ${what} "${neutralize(name, 64)}"${didYouMean(name, known)}; known: ${
    known.map((k) => `"${k}"`).join(", ")
  }`;
}

function refuse(detail: string, cause?: unknown): never {
  return refuseGrant(detail, cause);
}

/**
 * A path grant as spelled, resolved once: its real path and every link on
 * the way come from one walk. Resolved twice (a real path, then a walk for
 * planted links), a link flipped between the two gave a grant through a link
 * the check never saw (review 110).
 */
function resolvePath(kind: string, spelled: string, cwd: string): Chain {
  let chain: Chain | undefined;
  try {
    chain = resolveChain(absolutePath(spelled, cwd));
  } catch {
    // a loop of links, or a folder on the way this process may not look in
  }
  if (!chain) refuse(`${kind} "${spelled}": no such file or folder`);
  // The real path is what goes on the command line, so it must be flag-safe too.
  const check = FLAG_SAFE.safeParse(chain.real);
  if (!check.success) {
    refuse(`${kind} "${spelled}": its real path "${chain.real}" ${check.error.issues[0].message}`);
  }
  return chain;
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort();
}

/**
 * Validates a permission object and resolves it: paths to absolute real
 * paths, env names to values. Refuses (with a `TypeError` naming the entry)
 * anything malformed, anything that would inject a flag, and unsafe grants
 * without their acknowledgement.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveGrants, toDenoArgs } from "./permissions.ts";
 * const grants = resolveGrants({ net: ["example.com:443"] });
 * assert.ok(toDenoArgs(grants).includes("--allow-net=example.com:443"));
 * ```
 */
export function resolveGrants(
  permissions: Permissions = {},
  options: ResolveGrantsOptions = {},
): ResolvedGrants {
  const parsed = PermissionsSchema.safeParse(permissions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === "unrecognized_keys") {
      refuse(`permissions: ${unknownName("kind", issue.keys[0], PermissionsSchema)}`, parsed.error);
    }
    const where = issue.path.map(String).join(".") || "permissions";
    const value = issue.path.reduce<unknown>(
      (v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey],
      permissions,
    );
    // Quoted in part: a list of 100,000 paths was quoted whole (review 165).
    refuse(
      `${where}${
        value === undefined ? "" : ` ${neutralize(JSON.stringify(value) ?? "", 300)}`
      }: ${issue.message}`,
      parsed.error,
    );
  }
  const unsafe = UnsafeSchema.safeParse(options.unsafe ?? {});
  if (!unsafe.success) {
    const issue = unsafe.error.issues[0];
    refuse(
      `with unsafe: ${
        issue.code === "unrecognized_keys"
          ? unknownName("acknowledgement", issue.keys[0], UnsafeSchema)
          : issue.message
      }`,
      unsafe.error,
    );
  }
  const ack = unsafe.data;
  const p = parsed.data;
  const cwd = options.cwd ?? Deno.cwd();

  if (p.run?.length && !ack.run) {
    refuse(
      `run ${JSON.stringify(p.run)}: a subprocess escapes the sandbox; pass unsafe.run to accept`,
    );
  }
  if (p.ffi?.length && !ack.ffi) {
    refuse(
      `ffi ${JSON.stringify(p.ffi)}: native code ignores permissions; pass unsafe.ffi to accept`,
    );
  }
  if (p.all && !ack.all) refuse("all: it disables the sandbox; pass unsafe.all to accept");

  const chains = {
    read: (p.read ?? []).map((spelled) => ({ spelled, ...resolvePath("read", spelled, cwd) })),
    write: (p.write ?? []).map((spelled) => ({ spelled, ...resolvePath("write", spelled, cwd) })),
  };
  const read = unique(chains.read.map((chain) => chain.real));
  const write = unique(chains.write.map((chain) => chain.real));
  const others = options.plugin === undefined ? [] : writtenBefore(write);
  // Each folder's identity looked up once for every comparison (review 139).
  onDiskOnce(() => {
    checkWrites(write, ack, options);
    for (const kind of ["read", "write"] as const) {
      for (const chain of chains[kind]) refusePlantedLinks(kind, chain, [...write, ...others]);
      for (const path of kind === "read" ? read : write) {
        refuseInsideOthersWrites(kind, path, others);
      }
    }
  });
  // The canonical form is what Deno compares against, so it is what is passed; and what
  // the host wrote is classified in that form too (isPrivateHost canonicalises).
  const net = unique((p.net ?? []).map((entry) => canonicalNetGrant(entry)!));
  if (!ack.privateNetwork) {
    const local = (p.net ?? []).find((entry) => isPrivateHost(entry));
    if (local) {
      refuse(
        `net "${
          canonicalNetGrant(local)
        }": it is a loopback, private or local address; pass unsafe.privateNetwork to accept`,
      );
    }
  }
  const sys = unique(p.sys ?? []);
  const action = sys.find((name) => (SYS_ACTIONS as readonly string[]).includes(name));
  if (action && !ack.sysActions) {
    refuse(
      `sys "${action}": it acts on other processes or the machine rather than reading; pass unsafe.sysActions to accept`,
    );
  }
  const env = envGrants(p.env, options);
  return {
    read,
    write,
    net,
    env,
    sys,
    run: unique((p.run ?? []).map((x) => programPath(x, cwd))),
    ffi: unique((p.ffi ?? []).map((x) => resolvePath("ffi", x, cwd).real)),
    all: p.all === true,
  };
}

/**
 * Each kind's entries as text, as a command line carries them (an env
 * grant as `NAME=value`), for a refusal that names the largest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grantLists } from "./permissions.ts";
 * const lists = grantLists({
 *   read: ["/data"], write: [], net: [], env: { TOKEN: "x" }, sys: [], run: [], ffi: [], all: false,
 * });
 * assert.deepEqual(lists.env, ["TOKEN=x"]);
 * ```
 */
export function grantLists(grants: ResolvedGrants): Record<string, string[]> {
  const { read, write, net, sys, run, ffi } = grants;
  const env = Object.entries(grants.env).map(([name, value]) => `${name}=${value}`);
  return { read, write, net, env, sys, run, ffi };
}

/**
 * The exact Deno permission flags for resolved grants: `--no-prompt` and
 * `--allow-x=a,b` per non-empty kind (more than one for a list longer than
 * an argument may be), nothing else (so all else is denied).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toDenoArgs } from "./permissions.ts";
 * const args = toDenoArgs({
 *   read: ["/data"], write: [], net: [], env: { TOKEN: "x" }, sys: [], run: [], ffi: [], all: false,
 * });
 * assert.ok(args.join(" ") === "--no-prompt --allow-read=/data --allow-env=TOKEN");
 * ```
 */
export function toDenoArgs(grants: ResolvedGrants): string[] {
  const args = ["--no-prompt"];
  if (grants.all) return [...args, "--allow-all"];
  const lists: [string, string[]][] = [
    ["read", grants.read],
    ["write", grants.write],
    ["net", grants.net],
    ["env", Object.keys(grants.env).sort()],
    ["sys", grants.sys],
    ["run", grants.run],
    ["ffi", grants.ffi],
  ];
  // Several flags of a kind when one would pass the kernel's limit on an argument: Deno adds them.
  for (const [kind, values] of lists) args.push(...allowFlags(kind, values));
  return args;
}
