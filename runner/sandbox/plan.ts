/**
 * Plans a plugin start: resolves grants, snapshots and checks the plugin,
 * picks the isolation, and produces the exact command, argv and environment.
 * Nothing here spawns the plugin, so a plan can be inspected first.
 * @module
 */

import { type AuditOptions, type AuditPlan, releaseAuditFolder } from "./audit_setup.ts";
import type { CpuLimits, CpuPlan } from "./cpu_limits.ts";
import type { EgressPlan } from "./egress.ts";
import type { IsolationLayer, IsolationMode } from "./isolation.ts";
import { checkCommandLine } from "./command_line.ts";
import { commandLaunch } from "./launch_command.ts";
import { denoLaunch, type Launch, type Prepared } from "./launch_deno.ts";
import type { LockOptions } from "./lock.ts";
import type { ManifestPolicy, ManifestReview } from "./manifest.ts";
import {
  grantLists,
  type Permissions,
  type ResolvedGrants,
  type UnsafeAcknowledgements,
} from "./permissions.ts";
import type { GraphSummary } from "./preflight.ts";
import { refuseUnknownOptions } from "./option_keys.ts";
import { prepare, runtimeRoots } from "./prepare.ts";
import { releaseDenoDir } from "./locate.ts";
import { releaseSnapshot, type Snapshot, type SnapshotLimits } from "./snapshot.ts";

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
   * `"os"` (bubblewrap, or fail), `"landlock"` (Landlock, seccomp and
   * no-new-privileges, for machines where bubblewrap cannot run, or fail),
   * `"deno"` (Deno's permissions and the hardened flags only), or `"auto"`:
   * `"os"` where it works here, else `"landlock"` where that works, else
   * `"deno"`. The Landlock layer refuses `ffi` or `run` together with `net`
   * (native code could reach any host on the egress proxy's port number), also when
   * `"auto"` chooses it.
   * @default {"auto"}
   */
  isolation?: IsolationMode;
  /** The plugin's CPU budget: a share of a core, and a total. One core, no total, by default. */
  cpu?: CpuLimits;
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
   * Deadline for walking the plugin's folder, and again for resolving its
   * module graph, in milliseconds.
   * @default {15000}
   */
  preflightTimeout?: number;
  /** Bounds on the plugin's folder. */
  snapshotLimits?: SnapshotLimits;
  /**
   * Most bytes the cache's snapshots may hold together (each counted as
   * its files' bytes and 4 KiB a file and folder). A start that writes a
   * new snapshot then removes those used longest ago that no plugin in any
   * host process uses (listing them only when this process's running total
   * would pass the bound, or every 10 minutes); `Infinity` removes none.
   * See also `pruneCache`.
   * @default {1 GiB}
   */
  snapshotCacheBytes?: number;
  /**
   * What to do when the grants exceed what the plugin's `plugbox.json`
   * requests (a plugin without one requests nothing): `"refuse"` the start,
   * `"narrow"` the grants to the intersection, or `"ignore"` the manifest.
   * @default {"refuse"}
   */
  manifest?: ManifestPolicy;
  /**
   * The Deno binary plugins run with (an absolute path). A host made with
   * `deno compile` is not Deno itself, so there plugbox looks for `deno` on
   * PATH unless this (or `PLUGBOX_DENO`) names one.
   * @default {$PLUGBOX_DENO, else the host's own Deno, else deno on PATH}
   */
  deno?: string;
  /**
   * Run this command instead of a Deno module: a plugin in another language
   * speaking plugbox's protocol, program first (`["python3", "main.py"]`).
   * A program given by name is found on the host's PATH; relative arguments
   * are relative to the plugin's folder. Overrides `command` in the plugin's
   * `plugbox.json`. Runs only under the OS layer.
   * @default {the plugin's plugbox.json "command", else none: a Deno module}
   */
  command?: readonly string[];
  /**
   * Record every permission check the plugin's process makes (Deno's
   * `DENO_AUDIT_PERMISSIONS`, read by the host): `true`, or bounds. Refused
   * with `all`, `run` or `ffi` grants, and for command plugins (they make no
   * Deno permission checks). Off by default, and then it costs nothing.
   * @default {false}
   */
  audit?: boolean | AuditOptions;
  /**
   * Start only what `plugbox.lock` approved (see `plug approve`): refused
   * with `LockError` when the plugin was never approved, or changed and asks
   * for more than was approved (or, by policy, changed at all).
   */
  lock?: LockOptions;
  /**
   * Aborting stops the start, planning included: it rejects with
   * `signal.reason` at once, the helper processes it started for itself
   * (the module-graph check, the trash's removal, a Python probe) killed
   * and what it made for itself removed (a run grant's own Deno dir); a
   * probe other starts share goes on without it. The SDK's code cache
   * build, shared too, goes on while another start waits for it; the last
   * start to stop waiting kills it and rejects once it has ended (within
   * milliseconds), so nothing a stopped start began still writes the cache.
   * Once spawned, the process is stopped.
   */
  signal?: AbortSignal;
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
  /** `"deno"` for a Deno module, `"command"` for a plugin in another language. */
  kind: "deno" | "command";
  /** The isolation that will be used. */
  isolation: IsolationLayer;
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
  /** Where the permission audit goes, when `audit` was asked for. */
  audit?: AuditPlan;
  /**
   * Filtered egress, for net grants under an OS layer: what the host's proxy
   * allows and where it listens. Absent when no net is granted, under the
   * Deno layer (Deno's own checks only), and for `all`.
   */
  egress?: EgressPlan;
  /** The CPU budget and who holds it. */
  cpu: CpuPlan;
  /**
   * The sandbox runs the plugin only after the host's go, a line on its
   * stdin that the host sends once the sandbox's death signals are armed
   * (the OS layer with a shell; `GO_STEP` in layers.ts).
   */
  waitsForGo: boolean;
  /**
   * plugbox's last step before the plugin writes a line on stderr just before the plugin's exec
   * (start_verdict.ts's `EXEC_MARK`): what comes before it is plugbox's, a verdict there its own.
   */
  marksExec: boolean;
  /**
   * Under the Deno layer, the paths its grants' links climb through with
   * `..` (and the relative links that climb), judged as no plugin's to move:
   * no other start in this process may be given one to write (review 93).
   */
  climbsThrough?: string[];
  /**
   * A command plugin's: the folders its program and interpreter load from
   * (a version manager's interpreter among them, which no code root holds):
   * no other start in this process may be given one to write (review 119).
   */
  runtimeFolders?: string[];
  /**
   * The cache its snapshot and Deno dir are in (canonical): code too, whose snapshot a later
   * start runs unread, found by its hash; no other start in this process may be given it to write
   * (review 125).
   */
  cacheDir?: string;
}

/**
 * Plans a start without spawning anything: the snapshot is taken, the
 * module graph checked (in the run's own view; cached by everything that
 * decided it), and the exact command, argv and environment decided. The
 * host spawns only plans made here; users reach it as
 * {@linkcode previewStart}. At `options.signal`'s abort it rejects with
 * the abort's reason without waiting for the rest of the planning, having
 * killed the start's own helpers and released its Deno dir; no plan is
 * issued.
 *
 * @example
 * ```ts ignore
 * const stop = new AbortController();
 * const planning = planPlugin("./plugins/hello/main.ts", { signal: stop.signal });
 * stop.abort(new DOMException("The start was stopped", "AbortError"));
 * await planning.catch((error) => console.log(error.name)); // AbortError, at once
 * ```
 */
export async function planPlugin(
  module: string | URL,
  options: LaunchOptions = {},
): Promise<LaunchPlan> {
  // Review 145: previewStart's null failed as "Cannot read properties of null (reading 'signal')",
  // a number was taken as no options, and a signal that is none as "throwIfAborted is not a
  // function" (startPlugin checks its own first; a preview did not).
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot plan plugin "${module}": its options must be an object`);
  }
  const signal: unknown = options.signal;
  if (signal !== undefined && signal !== null && !(signal instanceof AbortSignal)) {
    throw new TypeError(`"signal" must be an AbortSignal, got ${typeof signal}`);
  }
  options.signal?.throwIfAborted();
  const nonce = crypto.randomUUID().replaceAll("-", "");
  let prepared: Prepared | undefined;
  let launch: Launch | undefined;
  try {
    prepared = await prepare(module, options);
    launch = prepared.runtime
      ? await commandLaunch(prepared, prepared.runtime, nonce)
      : await denoLaunch(prepared, nonce);
    checkCommandLine([launch.command, ...launch.args], launch.env, {
      grants: grantLists(prepared.grants),
    });
    // Aborted in the last steps (which wait on nothing of the start's own): no plan is issued.
    options.signal?.throwIfAborted();
  } catch (error) {
    // Made for a plan that is not issued: a run grant's own Deno dir, an audit's folder.
    releaseHeld({
      denoDir: prepared?.denoDir,
      audit: launch?.audit ?? prepared?.plannedAudit,
      snapshot: prepared?.snapshot,
    });
    throw explainHostPermission(error);
  }
  const { name, isolation, notes, snapshot, root, grants, review } = prepared;
  const plan: LaunchPlan = {
    name,
    kind: prepared.runtime ? "command" : "deno",
    isolation,
    notes,
    command: launch.command,
    args: launch.args,
    env: launch.env,
    cwd: snapshot.dir,
    root,
    snapshot,
    grants,
    manifest: review,
    graph: launch.graph,
    nonce,
    ...(launch.audit ? { audit: launch.audit } : {}),
    ...(launch.egress ? { egress: launch.egress.plan } : {}),
    cpu: launch.cpu,
    waitsForGo: launch.waitsForGo,
    marksExec: launch.marksExec,
    ...(launch.climbsThrough ? { climbsThrough: launch.climbsThrough } : {}),
    ...(prepared.runtime ? { runtimeFolders: runtimeRoots(prepared.runtime) } : {}),
    cacheDir: prepared.cache,
  };
  deepFreeze(plan);
  issued.add(plan);
  return plan;
}

/** A permission the host itself lacks becomes a message that says which, and why plugbox needs it. */
export function explainHostPermission(error: unknown): unknown {
  if (!(error instanceof Deno.errors.NotCapable)) return error;
  return new Deno.errors.NotCapable(
    `Cannot start plugin: the host process lacks a permission plugbox needs: ${error.message}. ` +
      `plugbox reads the plugin's folder, writes its cache, reads a few environment variables ` +
      `and runs Deno, bubblewrap and their helpers (see "Host permissions" in the README)`,
    { cause: error },
  );
}

/**
 * Everything {@linkcode startPlugin} does before it spawns: grants
 * validated, folder snapshotted, module graph checked, isolation chosen.
 * Returns the exact command, argv and environment a start would use, for
 * review or logging; starts nothing. The plan cannot be edited and run.
 * Under a `run`, `ffi` or `all` grant, the Deno dir made for its check is
 * removed at once: the plan's `DENO_DIR` names a dir a start makes afresh.
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
export async function previewStart(
  module: string | URL,
  options?: LaunchOptions,
): Promise<LaunchPlan> {
  // A misspelt option is named, not taken for one not given (review 165).
  if (typeof options === "object" && options !== null) {
    refuseUnknownOptions(`Cannot plan plugin "${module}"`, options);
  }
  const plan = await planPlugin(module, options);
  releaseUnlaunchedPlan(plan); // never launched, and not to be
  return plan;
}

/** Plans made by {@linkcode planPlugin}: the only ones a plugin may be spawned from. */
const issued = new WeakSet<LaunchPlan>();

/**
 * What a plan (or a planning that failed) holds for itself until its plugin
 * ends. Every field is required, so a resource added here is named at each
 * place that releases one.
 */
interface Held {
  /** A run, ffi or all grant's own Deno dir (any other Deno dir is shared, and stays). */
  denoDir: string | undefined;
  /** An audit whose file goes to a folder of its own. */
  audit: AuditPlan | undefined;
  /** Its snapshot's lease: no host removes the snapshot while it is held (review 159). */
  snapshot: Snapshot | undefined;
}

function releaseHeld(held: Held): void {
  releaseSnapshot(held.snapshot);
  if (held.denoDir) releaseDenoDir(held.denoDir); // review 48, 49
  releaseAuditFolder(held.audit); // review 66
}

/**
 * Releases everything an issued plan holds for itself, for a plan that
 * will never run (a preview, an approval, a launch stopped or refused
 * before its spawn), and takes it out of the issued plans: it can no
 * longer be launched. The one place that knows what a plan holds: each
 * such plan once left its own Deno dir (review 49) or its audit's folder
 * (review 66) behind.
 *
 * @example
 * ```ts ignore
 * const plan = await planPlugin("./plugins/hello/main.ts", { audit: true });
 * releaseUnlaunchedPlan(plan); // only looked at
 * ```
 */
export function releaseUnlaunchedPlan(plan: LaunchPlan): void {
  issued.delete(plan);
  releaseHeld({ denoDir: plan.env.DENO_DIR, audit: plan.audit, snapshot: plan.snapshot });
}

function deepFreeze(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/**
 * True, once, when `plan` was made by {@linkcode planPlugin} in this
 * process (plans are frozen, so it is also unchanged): the host spawns only
 * such plans, each once. Two plugins from one plan shared its cgroups and a
 * run grant's own Deno dir, and one's end killed the other (review 49).
 */
export function takeIssuedPlan(plan: LaunchPlan): boolean {
  return issued.delete(plan);
}
