/**
 * Plans the permission audit of one plugin process: where Deno writes each
 * permission check (`DENO_AUDIT_PERMISSIONS`), and the refusals that keep
 * that file the host's. The file is a regular file in a folder only the
 * host uses: Deno opens it before any plugin code runs, node:net refuses to
 * wrap a file's descriptor, and Deno asks for every permission before
 * `/proc/self/fd` reaches a file. What remains is refused here: grants that
 * escape the sandbox, grants over the folder, and links in granted folders
 * that lead into `/proc`, `/dev`, `/sys` or the folder.
 * @module
 */

import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { PreflightError } from "../errors.ts";
import { canonicalPath, isWithin } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";

/**
 * Bounds on one plugin process's audit.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Kv } from "./plugins/kv/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/kv/main.ts", {
 *   contracts: [Kv],
 *   audit: { maxEntries: 256, maxLogBytes: 4 * 1024 * 1024 },
 * });
 * ```
 */
export interface AuditOptions {
  /**
   * Most distinct entries kept (kind, value and verdict); checks of entries
   * seen before only raise their counts. Further new entries are counted in
   * `dropped`, and the audit is incomplete.
   * @default {1024}
   */
  maxEntries?: number;
  /**
   * Most bytes Deno may write to the audit file for one process (about
   * 100 bytes a check). A plugin that checks more is killed, and its audit
   * says so: the file lives on the host's disk.
   * @default {32 MiB}
   */
  maxLogBytes?: number;
}

/**
 * The audit part of a launch plan.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const plan = await previewStart("./plugins/hello/main.ts", { audit: true });
 * console.log(plan.audit?.log, plan.env.DENO_AUDIT_PERMISSIONS); // the same path
 * ```
 */
export interface AuditPlan {
  /** The file Deno writes each check to, in a folder only the host uses. */
  log: string;
  /** Whether the host made the folder for this plan alone (and removes it after). */
  ownFolder: boolean;
  /** See {@linkcode AuditOptions.maxEntries}. */
  maxEntries: number;
  /** See {@linkcode AuditOptions.maxLogBytes}. */
  maxLogBytes: number;
  /** The plugin's working directory, against which Deno's relative paths are resolved. */
  cwd: string;
  /**
   * Under the OS layer, the folders mounted for the plugin's files (grants,
   * snapshot, SDK, its own dirs): a granted path whose real path lies
   * elsewhere was not there for the plugin. Empty under the Deno layer.
   */
  mounted: string[];
}

/**
 * The oldest Deno whose audit plugbox knows: the line format, the kinds and
 * the `/proc/self/fd` checks the audit relies on are Deno 2.9's. An older
 * binary (the `deno` option may name one) could ignore the variable and
 * leave an audit that looks complete and empty.
 */
const AUDIT_DENO = [2, 9] as const;

/** Most entries walked in the granted folders when looking for links. */
const MAX_WALK = 20_000;
const KERNEL_ROOTS = ["/proc", "/dev", "/sys"];

function integerOption(name: string, value: number | undefined, fallback: number, max: number) {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new TypeError(
      `Cannot audit plugin: "${name}" must be an integer from 1 to ${max}, got ${n}`,
    );
  }
  return n;
}

function refuseEscapes(plugin: string, grants: ResolvedGrants): void {
  const escape = grants.all ? "all" : grants.run.length ? "run" : grants.ffi.length ? "ffi" : "";
  if (escape) {
    throw new TypeError(
      `Cannot audit plugin "${plugin}": a plugin granted ${escape} can reach past Deno's checks, and its own audit file; audit it without that grant`,
    );
  }
}

function refuseOldDeno(plugin: string, deno: { path: string; version: string }): void {
  const [major, minor] = deno.version.split(".").map((part) => parseInt(part, 10));
  const [wantMajor, wantMinor] = AUDIT_DENO;
  if (major > wantMajor || (major === wantMajor && minor >= wantMinor)) return;
  throw new TypeError(
    `Cannot audit plugin "${plugin}": the Deno binary "${deno.path}" is ${deno.version}, and the audit needs Deno ${wantMajor}.${wantMinor} or later (an older one may write no checks at all); name a newer one with the "deno" option`,
  );
}

function coveringGrant(grants: ResolvedGrants, path: string): string | undefined {
  return [...grants.read, ...grants.write].find((g) => isWithin(path, g));
}

/**
 * The first place for audit files that no grant covers: plugbox's cache,
 * else a new folder in the temporary folder.
 */
function choosePlace(plugin: string, grants: ResolvedGrants, cacheDir: string) {
  const inCache = join(cacheDir, "audit");
  const cacheGrant = coveringGrant(grants, inCache);
  if (!cacheGrant) return { base: inCache, inCache: true };
  const tmp = canonicalPath(tmpdir());
  const tmpGrant = coveringGrant(grants, tmp);
  if (!tmpGrant) return { base: tmp, inCache: false };
  throw new TypeError(
    `Cannot audit plugin "${plugin}": grant "${cacheGrant}" covers plugbox's cache "${cacheDir}" and grant "${tmpGrant}" the temporary folder, where the audit file would be; narrow them or set cacheDir`,
  );
}

/** Where a link leads, for the check: its textual target, then its real path on the host. */
function targetsOf(link: string): string[] {
  const text = Deno.readLinkSync(link);
  const targets = [resolve(dirname(link), text)];
  try {
    targets.push(Deno.realPathSync(link));
  } catch {
    // dangling on the host: the textual target is all there is
  }
  return targets;
}

function checkLink(plugin: string, link: string, forbidden: string[]): void {
  for (const target of targetsOf(link)) {
    const root = forbidden.find((f) => isWithin(target, f));
    if (root) {
      throw new PreflightError({
        plugin,
        reason: "audit-link",
        path: link,
        detail:
          `granted folder holds link "${link}" to "${target}", inside "${root}": through it the plugin could reach its own audit file; remove the link or audit without that grant`,
      });
    }
  }
}

/**
 * Deno checks a path before it follows links, and its `/proc` check looks
 * at the path as written: a link in a granted folder to `/proc/self/fd/N`
 * would open the audit file itself. Such links (into `/proc`, `/dev`,
 * `/sys` or the audit folder) are refused under both layers.
 */
function refuseKernelLinks(plugin: string, grants: ResolvedGrants, auditDir: string): void {
  const forbidden = [...KERNEL_ROOTS, auditDir];
  let left = MAX_WALK;
  for (const top of new Set([...grants.read, ...grants.write])) {
    const stack = Deno.lstatSync(top).isDirectory ? [top] : [];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        continue; // unreadable for the host, and so for the plugin
      }
      for (const entry of entries) {
        if (--left < 0) {
          throw new PreflightError({
            plugin,
            reason: "grant-too-large",
            path: top,
            detail:
              `the granted folders hold more than ${MAX_WALK} entries, too many to check for links before an audit; narrow the grants`,
          });
        }
        const path = join(dir, entry.name);
        if (entry.isDirectory) stack.push(path);
        else if (entry.isSymlink) checkLink(plugin, path, forbidden);
      }
    }
  }
}

/**
 * Plans the audit: validates the options, refuses what would let the
 * plugin reach its audit file, and picks the file. Nothing is created but
 * the folder; the host creates the file when it spawns the plugin.
 *
 * @throws {TypeError} for bad options, a Deno older than 2.9, or a grant that cannot be audited;
 * {@linkcode PreflightError} for a link that leads to the audit file.
 */
export function planAudit(
  plugin: string,
  options: AuditOptions | true,
  context: {
    grants: ResolvedGrants;
    cacheDir: string;
    cwd: string;
    mounted: string[];
    deno: { path: string; version: string };
  },
): AuditPlan {
  const bounds = options === true ? {} : options;
  if (typeof bounds !== "object" || bounds === null) {
    throw new TypeError(`Cannot audit plugin "${plugin}": "audit" must be true or an object`);
  }
  const maxEntries = integerOption("audit.maxEntries", bounds.maxEntries, 1024, 1_000_000);
  const maxLogBytes = integerOption("audit.maxLogBytes", bounds.maxLogBytes, 32 << 20, 1 << 30);
  refuseOldDeno(plugin, context.deno);
  refuseEscapes(plugin, context.grants);
  const place = choosePlace(plugin, context.grants, context.cacheDir);
  refuseKernelLinks(plugin, context.grants, place.base);
  let dir = place.base;
  if (place.inCache) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  else dir = Deno.makeTempDirSync({ dir, prefix: "plugbox-audit-" });
  return {
    log: join(dir, `${plugin}-${crypto.randomUUID()}.jsonl`),
    ownFolder: !place.inCache,
    maxEntries,
    maxLogBytes,
    cwd: context.cwd,
    mounted: context.mounted,
  };
}

/**
 * Removes the folder of its own an audit was planned in (in the temporary
 * folder, where a grant covers the cache), for a plan that will never run:
 * a start stopped or refused before its spawn, or a preview (review 66:
 * each left one behind). A folder in the cache is shared, and stays.
 *
 * @example
 * ```ts ignore
 * releaseAuditFolder(plan.audit); // the plan was only previewed
 * ```
 */
export function releaseAuditFolder(audit: AuditPlan | undefined): void {
  if (!audit?.ownFolder) return;
  try {
    Deno.removeSync(dirname(audit.log), { recursive: true });
  } catch {
    // gone already
  }
}
