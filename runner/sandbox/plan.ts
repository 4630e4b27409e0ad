/**
 * Plans a plugin start: resolves grants, snapshots and checks the plugin,
 * picks the isolation, and produces the exact command, argv and environment.
 * Nothing here spawns the plugin, so a plan can be inspected first.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { IsolationUnavailableError } from "../errors.ts";
import { ownRuntimeFiles, runtimeNames } from "./env_names.ts";
import { checkGrantLinks } from "./grant_links.ts";
import { verifyGraph } from "./graph_cache.ts";
import {
  bwrapArgs,
  denoLibraries,
  denoPrefix,
  detectTools,
  type HostTools,
  type IsolationMode,
  missingHardening,
  type MountPlan,
  osPrefix,
} from "./isolation.ts";
import { codeRoots, defaultCacheDir, pluginDirs, resolveEntry, toPath } from "./locate.ts";
import {
  applyManifest,
  type ManifestPolicy,
  type ManifestReview,
  narrowGrants,
} from "./manifest.ts";
import { privateAddressOf } from "./net.ts";
import { canonicalPath, isWithin } from "./paths.ts";
import {
  type Permissions,
  type ResolvedGrants,
  resolveGrants,
  runsAsRoot,
  toDenoArgs,
  type UnsafeAcknowledgements,
} from "./permissions.ts";
import type { GraphSummary } from "./preflight.ts";
import { neutralize, NONCE_FLAG } from "../wire/mod.ts";
import { ensureSdk } from "./sdk.ts";
import { type Snapshot, type SnapshotLimits, takeSnapshot } from "./snapshot.ts";

/**
 * How to start a plugin; every field has a safe default.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const plan = await previewStart("./plugins/summarizer/main.ts", {
 *   permissions: { read: ["./docs"] },
 *   isolation: "os",
 *   memoryLimitMiB: 256,
 *   manifest: "narrow",
 * });
 * ```
 */
export interface LaunchOptions {
  /**
   * The plugin's name in messages, logs and the manager.
   * @default {the name of the plugin's folder}
   */
  name?: string;
  /**
   * The plugin's folder: everything it may import lies inside.
   * @default {the folder of the module}
   */
  root?: string | URL;
  /** What the plugin may touch. Nothing by default. */
  permissions?: Permissions;
  /** Named acknowledgements for grants that weaken the sandbox. */
  unsafe?: UnsafeAcknowledgements;
  /**
   * `"os"` (bubblewrap, or fail), `"deno"` (Deno's permissions and the
   * hardened flags only), or `"auto"`: `"os"` when it works here.
   * @default {"auto"}
   */
  isolation?: IsolationMode;
  /**
   * V8 heap cap in MiB; the process's writable memory is capped too (heap
   * plus ArrayBuffers and Workers), at this plus Deno's fixed reservations.
   * @default {512}
   */
  memoryLimitMiB?: number;
  /**
   * Where plugbox keeps the SDK bundle, snapshots and per-plugin Deno dirs.
   * @default {$PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox, else ~/.cache/plugbox}
   */
  cacheDir?: string;
  /**
   * Deadline for resolving the module graph, in milliseconds.
   * @default {15000}
   */
  preflightTimeout?: number;
  /** Bounds on the plugin's folder. */
  snapshotLimits?: SnapshotLimits;
  /**
   * What to do when the grants exceed what the plugin's `plugbox.json`
   * requests (a plugin without one requests nothing): `"refuse"` the start,
   * `"narrow"` the grants to the intersection, or `"ignore"` the manifest.
   * @default {"refuse"}
   */
  manifest?: ManifestPolicy;
}

/**
 * Everything about a start, decided before the process exists.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const plan = await previewStart("./plugins/hello/main.ts");
 * console.log(`${plan.name} runs under "${plan.isolation}" from ${plan.snapshot.dir}`);
 * console.log([plan.command, ...plan.args].join(" "));
 * for (const note of plan.notes) console.log(`note: ${note}`);
 * ```
 */
export interface LaunchPlan {
  /** The plugin's name. */
  name: string;
  /** The isolation that will be used. */
  isolation: "os" | "deno";
  /** Why `"auto"` chose as it did, and hardening a missing tool costs. */
  notes: string[];
  /** The program to spawn (a wrapper, or Deno itself). */
  command: string;
  /** Its exact arguments. */
  args: string[];
  /** Its exact environment; nothing else is inherited. */
  env: Record<string, string>;
  /** Its working directory (the snapshot). */
  cwd: string;
  /** The plugin's original folder. */
  root: string;
  /** The checked, read-only copy it runs from. */
  snapshot: Snapshot;
  /** The validated grants (narrowed to the manifest under `manifest: "narrow"`). */
  grants: ResolvedGrants;
  /** The plugin's manifest and the grants it does not cover. */
  manifest: ManifestReview;
  /** What the checked module graph holds. */
  graph: GraphSummary;
  /** The per-start nonce, also in `args`. */
  nonce: string;
}

/** Deno reserves about 540 MiB of writable address space at start (code range, cages). */
const RESERVED_MIB = 768;
/** Memory for `deno info` beyond the reservation, in MiB. */
const PREFLIGHT_MIB = 256;

function validateNumber(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(
      `Cannot start plugin: "${name}" must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

function chooseIsolation(mode: IsolationMode, tools: HostTools, notes: string[]): "os" | "deno" {
  if (!["auto", "os", "deno"].includes(mode)) {
    throw new TypeError(
      `Cannot start plugin: "isolation" must be "auto", "os" or "deno", got "${mode}"`,
    );
  }
  if (mode === "os" && !tools.bwrap) throw new IsolationUnavailableError("os", tools.bwrapProblem!);
  if (mode === "auto" && !tools.bwrap) {
    notes.push(`isolation "auto" chose "deno": ${tools.bwrapProblem}`);
    return "deno";
  }
  if (mode === "auto") notes.push(`isolation "auto" chose "os": bubblewrap works here`);
  return mode === "deno" ? "deno" : "os";
}

/** Refuses net grants whose names this machine resolves to a private address now (THREATS T18). */
async function refusePrivateNames(grants: ResolvedGrants, unsafe?: UnsafeAcknowledgements) {
  if (unsafe?.privateNetwork === true) return;
  for (const entry of grants.net) {
    const address = await privateAddressOf(entry);
    if (address) {
      throw new TypeError(
        `Cannot grant net "${entry}": this machine resolves it to ${address}, a loopback, private or local address; pass unsafe.privateNetwork to accept`,
      );
    }
  }
}

/** The host's environment, the Deno dir and the rest of what plugbox sets for a plugin. */
function pluginEnv(denoDir: string, home: string, cwd: string): Record<string, string> {
  return {
    DENO_DIR: denoDir,
    HOME: home,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    // WebGPU needs no permission; with no backend it finds no adapter (THREATS T19).
    DENO_WEBGPU_BACKEND: "none",
    // bwrap sets PWD for its --chdir; both layers set it, so the plan is the exact environment.
    PWD: cwd,
  };
}

/**
 * Plans a start without spawning anything: the snapshot is taken, the
 * module graph checked (in the run's own view; cached by everything that
 * decided it), and the exact command, argv and environment decided. The
 * host spawns only plans made here; users reach it as
 * {@linkcode previewStart}.
 */
export async function planPlugin(
  module: string | URL,
  options: LaunchOptions = {},
): Promise<LaunchPlan> {
  const entry = resolveEntry(module);
  const root = canonicalPath(
    options.root === undefined ? dirname(entry) : toPath(options.root, "root"),
  );
  const name = options.name ?? basename(root);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new TypeError(
      `Cannot start plugin: name "${
        neutralize(name, 80)
      }" must be letters, digits, ".", "_" or "-" (at most 64)`,
    );
  }
  if (!isWithin(entry, root)) {
    throw new TypeError(
      `Cannot start plugin "${name}": module "${neutralize(entry)}" is not inside root "${
        neutralize(root)
      }"`,
    );
  }
  const memory = validateNumber("memoryLimitMiB", options.memoryLimitMiB ?? 512, 32, 65536);
  const timeoutMs = validateNumber(
    "preflightTimeout",
    options.preflightTimeout ?? 15_000,
    100,
    600_000,
  );
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  await Deno.mkdir(cacheDir, { recursive: true });
  const cache = canonicalPath(cacheDir);
  const deno = canonicalPath(Deno.execPath());
  const tools = await detectTools(deno);
  const notes: string[] = [];
  const isolation = chooseIsolation(options.isolation ?? "auto", tools, notes);
  const hostIsRoot = runsAsRoot();
  let grants = resolveGrants(options.permissions, {
    unsafe: options.unsafe,
    codeRoots: codeRoots(root, cache, deno),
    hostEnv: (key) => Deno.env.get(key),
    runtimeNames: runtimeNames(
      [...new Set([deno, ...await denoLibraries(deno), ...ownRuntimeFiles()])],
      join(cache, "runtime-names"),
    ),
    hostIsRoot,
  });
  await refusePrivateNames(grants, options.unsafe);
  const sdk = await ensureSdk(cache, deno);
  const snapshot = await takeSnapshot(root, entry, {
    plugin: name,
    cacheDir: cache,
    limits: options.snapshotLimits,
  });
  const review = applyManifest(name, snapshot.dir, grants, options.manifest ?? "refuse", notes);
  if (options.manifest === "narrow") grants = narrowGrants(grants, review.uncovered);
  const { denoDir, home } = await pluginDirs(cache, root, name);
  const env = pluginEnv(denoDir, home, snapshot.dir);
  const wrap = async (mounts: MountPlan, memoryMiB: number) => {
    const limits = { dataLimitBytes: (memoryMiB + RESERVED_MIB) * 1024 * 1024, root: hostIsRoot };
    return isolation === "os"
      ? osPrefix(tools, await bwrapArgs(mounts), limits)
      : denoPrefix(tools, limits);
  };
  if (isolation === "deno") {
    notes.push(...missingHardening(tools).map((m) => `missing hardening: ${m}`));
    checkGrantLinks(name, grants);
  }
  const mounts: MountPlan = {
    deno,
    readOnly: [snapshot.dir, sdk.dir, home, ...grants.read],
    readWrite: [denoDir, ...grants.write],
    net: grants.net.length > 0 || grants.all,
    dev: true,
    tmpBytes: 64 * 1024 * 1024,
    cwd: snapshot.dir,
  };
  // The check runs in the run's own view (THREATS T14): the same mounts, namespaces,
  // environment and loading flags. Two things differ, and both only make it
  // stricter: no /dev (every device is outside the roots, and an import of
  // one fails fast instead of reading forever) and a small memory cap.
  const graph = await verifyGraph({
    name,
    root,
    deno,
    snapshot,
    sdk,
    isolation,
    prefix: await wrap({ ...mounts, dev: false }, PREFLIGHT_MIB),
    env,
    cacheDir: cache,
    timeoutMs,
  });
  const nonce = crypto.randomUUID().replaceAll("-", "");
  const denoArgs = [
    "run",
    "--no-config",
    "--no-lock",
    "--no-remote",
    "--no-npm",
    `--import-map=${sdk.importMap}`,
    `--preload=${sdk.preload}`,
    `--v8-flags=--max-old-space-size=${memory}`,
    ...toDenoArgs(grants),
    snapshot.entry,
    `${NONCE_FLAG}=${nonce}`,
  ];
  const [command, ...wrapperArgs] = [...await wrap(mounts, memory), deno];
  const plan: LaunchPlan = {
    name,
    isolation,
    notes,
    command,
    args: [...wrapperArgs, ...denoArgs],
    env: { ...grants.env, ...env },
    cwd: snapshot.dir,
    root,
    snapshot,
    grants,
    manifest: review,
    graph,
    nonce,
  };
  deepFreeze(plan);
  issued.add(plan);
  return plan;
}

/**
 * Everything {@linkcode startPlugin} does before it spawns: grants
 * validated, folder snapshotted, module graph checked, isolation chosen.
 * Returns the exact command, argv and environment a start would use, for
 * review or logging; starts nothing. The plan cannot be edited and run.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 * const plan = await previewStart("./plugins/hello/main.ts", {
 *   permissions: { net: ["example.com:443"] },
 * });
 * console.log(plan.isolation, plan.command, plan.args, plan.env, plan.notes);
 * ```
 * @throws {TypeError} for bad options or refused grants,
 * {@linkcode PreflightError} when the plugin fails the checks,
 * {@linkcode IsolationUnavailableError} when `isolation: "os"` cannot work here.
 */
export function previewStart(module: string | URL, options?: LaunchOptions): Promise<LaunchPlan> {
  return planPlugin(module, options);
}

/** Plans made by {@linkcode planPlugin}: the only ones a plugin may be spawned from. */
const issued = new WeakSet<LaunchPlan>();

function deepFreeze(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/**
 * True when `plan` was made by {@linkcode planPlugin} in this process (plans
 * are frozen, so it is also unchanged). The host spawns only such plans.
 */
export function isIssuedPlan(plan: LaunchPlan): boolean {
  return issued.has(plan);
}
