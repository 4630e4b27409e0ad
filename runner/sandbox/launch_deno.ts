/**
 * The launch of a Deno plugin: the module-graph check, then `deno run` with
 * the hardened flags, the grants, the SDK's import map and the memory caps,
 * under the chosen isolation's wrappers.
 * @module
 */

import { afterProbes, afterWrites } from "./abort.ts";
import { type AuditOptions, type AuditPlan, planAudit } from "./audit_setup.ts";
import type { CommandRuntime } from "./command.ts";
import type { DenoBinary } from "./deno_binary.ts";
import { verifyGraph } from "./graph_cache.ts";
import { type CpuLimits, type CpuPlan, planCpu, withPluginMemory } from "./cpu_limits.ts";
import { type EgressSetup, planEgress, proxyPortDenials } from "./egress.ts";
import {
  type HostTools,
  type IsolationLayer,
  missingHardening,
  type MountPlan,
} from "./isolation.ts";
import { execMarked, layerPrefix, type LayerSupport } from "./layers.ts";
import type { ManifestReview } from "./manifest.ts";
import { grantLists, type ResolvedGrants, toDenoArgs } from "./permissions.ts";
import { type GraphSummary, infoArgs } from "./preflight.ts";
import { checkCommandLine } from "./command_line.ts";
import { checkGrantLinks } from "./grant_links.ts";
import { grantedBinaries } from "./grant_programs.ts";
import { NONCE_FLAG } from "../wire/mod.ts";
import { ensureSdk } from "./sdk.ts";
import { reaperSeen } from "./proc_view.ts";
import type { Snapshot } from "./snapshot.ts";

/** Everything decided about a start before its launch is built. */
export interface Prepared {
  name: string;
  root: string;
  /** The memory limit, in MiB. */
  memory: number;
  /** The deadline of the module-graph check. */
  timeoutMs: number;
  cache: string;
  deno: DenoBinary;
  tools: HostTools;
  isolation: IsolationLayer;
  /** What the OS layers found here (seccomp, Landlock, the launcher). */
  support: LayerSupport;
  notes: string[];
  grants: ResolvedGrants;
  review: ManifestReview;
  snapshot: Snapshot;
  /**
   * The seed (or, without one, an empty dir), read-only; or, when
   * {@linkcode Prepared.ownDenoDir}, a writable dir of its own. Empty for a
   * command plugin, which runs no Deno.
   */
  denoDir: string;
  /** The Deno dir is this start's own, writable (a run, ffi or all grant's; or kept capabilities'). */
  ownDenoDir: boolean;
  home: string;
  /** Set for a command plugin: what its program needs. */
  runtime?: CommandRuntime;
  /** The `audit` option, when a permission audit was asked for. */
  audit?: boolean | AuditOptions;
  /** The host runs as root: under the Deno and Landlock layers the plugin's capabilities are dropped. */
  hostIsRoot: boolean;
  /** `unsafe.privateNetwork`: the egress proxy may reach private addresses. */
  privateNetwork: boolean;
  /** `unsafe.lockQueries`: native code may ask who holds a record lock. */
  lockQueries: boolean;
  /** The CPU budget asked for. */
  cpuLimits?: CpuLimits;
  /**
   * The start's: at its abort the launch's planning rejects with its reason,
   * the graph check killed (shared probes go on without this start).
   */
  signal?: AbortSignal;
  /**
   * The audit, once planned: what fails after that leaves its folder of its
   * own to no one, and the plan's end removes it (review 66).
   */
  plannedAudit?: AuditPlan;
}

/** The process a plan spawns. */
export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  graph: GraphSummary;
  /** Where the permission audit goes, when one was asked for. */
  audit?: AuditPlan;
  egress?: EgressSetup;
  cpu: CpuPlan;
  /** The sandbox waits for a line on stdin before the plugin runs (`GO_STEP` in layers.ts). */
  waitsForGo: boolean;
  /** plugbox's last step writes the exec mark on stderr before the plugin runs (start_verdict.ts). */
  marksExec: boolean;
  /** Under the Deno layer, what `checkGrantLinks` took as no plugin's to move. */
  climbsThrough?: string[];
}

/** Deno reserves about 540 MiB of writable address space at start (code range, cages). */
const RESERVED_MIB = 768;
/** Memory for `deno info` beyond the reservation, in MiB. */
const PREFLIGHT_MIB = 256;

/** What a start adds to the wrappers: filtered egress and the CPU budget. */
export interface StartExtras {
  egress?: EgressSetup;
  cpu?: CpuPlan;
  /** The plugin's Deno dir, which the launcher sets back (none for a command plugin). */
  denoDir?: string;
  /** The names of the plugin's environment. */
  envNames?: string[];
  /** The audit file, which plugbox's launcher sets for the plugin alone. */
  auditLog?: string;
  /** The plugin's own start (not the graph check): it waits for the host's go (layers.ts). */
  waitsForGo?: boolean;
  /** The plugin's own start (not the graph check): its chain writes the exec mark (layers.ts). */
  marksExec?: boolean;
}

/** Whether a plugin's start under `p` writes the exec mark before the plugin runs (layers.ts). */
export function marksExec(p: Prepared, extras: StartExtras): boolean {
  return execMarked(p.isolation, p.tools.sh !== undefined, Boolean(extras.egress?.relay));
}

/** Whether a plugin's start under `p` waits for the host's go: the OS layer, with a shell. */
export function waitsForGo(p: Prepared): boolean {
  return p.isolation === "os" && p.tools.innerSh !== undefined;
}

/** Said in the plan when the OS layer's sandbox cannot wait for the host's go. */
export const NO_GO_STEP = "missing hardening: the sandbox cannot wait for the host's go " +
  "(no program sh at /bin/sh or on PATH), so a host killed in the first milliseconds of a " +
  "start can leave the plugin running, and, without a pids cgroup, its tasks are not held to " +
  "8,192 (RLIMIT_NPROC is set in that step)";

/** Said in the plan when this host cannot see the sandbox armed, so its go is sent at once. */
export const NO_GO_SEEN = "missing hardening: this host cannot see when the sandbox is armed " +
  "(it reads /proc only with --allow-all, on a kernel that shows tasks' children and waits, " +
  "and a set-UID bubblewrap's sandbox only as root), " +
  "so a host killed in the first milliseconds of a start can leave the plugin running";

/** The wrapper prefix for a mount plan, with the memory limit `memoryMiB` (plus `reservedMiB`). */
export function wrapperFor(
  p: Prepared,
  memoryMiB: number,
  reservedMiB: number,
  extras: StartExtras = {},
) {
  const limits = { dataLimitBytes: (memoryMiB + reservedMiB) * 1024 * 1024, root: p.hostIsRoot };
  return (mounts: MountPlan): Promise<string[]> =>
    layerPrefix({
      layer: p.isolation,
      tools: p.tools,
      support: p.support,
      deno: p.deno.path,
      cache: p.cache,
      denoDir: extras.denoDir,
      envNames: extras.envNames ?? [],
      limits,
      egress: extras.egress,
      // The memory cgroup holds the same cap as RLIMIT_DATA, for every process together.
      cpu: extras.cpu?.cgroup
        ? { ...extras.cpu, cgroup: { ...extras.cpu.cgroup, memoryBytes: limits.dataLimitBytes } }
        : extras.cpu,
      auditLog: extras.auditLog,
      waitsForGo: extras.waitsForGo,
      marksExec: extras.marksExec,
      nativeCode: p.runtime !== undefined || p.grants.run.length > 0 || p.grants.ffi.length > 0 ||
        p.grants.all,
      lockQueries: p.lockQueries,
    }, mounts);
}

/**
 * What a start adds besides the plugin: filtered egress for net grants
 * under an OS layer (`unsafe.all` keeps the host's network), and the CPU budget.
 */
export async function startExtras(p: Prepared, nonce: string): Promise<StartExtras> {
  // Only the cgroup probe is awaited there, made once for every start: not this start's to stop.
  const cpu = await afterProbes(
    planCpu(p.cpuLimits, `${p.name}-${nonce.slice(0, 12)}`, p.notes, p.tools.sh),
    p.signal,
  );
  if (p.isolation === "os" && !waitsForGo(p)) p.notes.push(NO_GO_STEP);
  else if (p.isolation === "os" && !reaperSeen(p.tools, p.hostIsRoot)) p.notes.push(NO_GO_SEEN);
  if (p.isolation === "deno" || p.grants.net.length === 0 || p.grants.all) return { cpu };
  const egress = await planEgress(p.isolation, p.grants.net, {
    privateNetwork: p.privateNetwork,
    cacheDir: p.cache,
    nonce,
  });
  p.notes.push(...egress.notes);
  // The relay runs in the sandbox beside the plugin: the plugin gets a memory cgroup of its own.
  return { cpu: egress.relay ? withPluginMemory(cpu) : cpu, egress };
}

/** The environment plugbox sets for every plugin, besides the granted variables. */
export function baseEnv(p: Prepared): Record<string, string> {
  return {
    DENO_DIR: p.denoDir,
    HOME: p.home,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    // WebGPU needs no permission; with no backend it finds no adapter (THREATS T19).
    DENO_WEBGPU_BACKEND: "none",
    // bwrap sets PWD for its --chdir; both layers set it, so the plan is the exact environment.
    PWD: p.snapshot.dir,
    // In the read-only seed, Deno's transpile cache cannot be written, and Deno retried each
    // module's write for 150 ms; it then compiles in memory without trying.
    ...(p.ownDenoDir ? {} : { DENO_EMIT_CACHE_MODE: "disable" }),
  };
}

/** Checks the plugin's module graph and builds its `deno run` command line. */
export async function denoLaunch(p: Prepared, nonce: string): Promise<Launch> {
  const { snapshot, grants } = p;
  const sdk = await afterWrites(ensureSdk(p.cache), p.signal);
  let climbsThrough: string[] | undefined;
  if (p.isolation === "deno") {
    p.notes.push(...missingHardening(p.tools).map((m) => `missing hardening: ${m}`));
    climbsThrough = checkGrantLinks(p.name, grants);
  }
  const env = baseEnv(p);
  const audit = p.audit
    ? planAudit(p.name, p.audit, {
      grants,
      cacheDir: p.cache,
      cwd: snapshot.dir,
      deno: p.deno,
      // Landlock, like Deno, sees the host's own paths: nothing is mounted elsewhere.
      mounted: p.isolation === "os"
        ? [snapshot.dir, sdk.dir, p.home, p.denoDir, ...grants.read, ...grants.write]
        : [],
    })
    : undefined;
  p.plannedAudit = audit;
  const extras = await startExtras(p, nonce);
  // A run grant's programs and an ffi grant's libraries run inside the sandbox, which must hold
  // them (grant_programs.ts); the Deno layer runs them on the host.
  const granted = p.isolation === "deno"
    ? { files: [], symlinks: [] }
    : grantedBinaries(p.name, grants, {
      root: p.root,
      write: grants.write,
      denoDir: p.denoDir,
    });
  const mounts: MountPlan = {
    programs: [p.deno.path],
    granted: granted.files,
    symlinks: granted.symlinks,
    // The seed is read-only to every plugin: it writes no cache, so it cannot grow one.
    readOnly: [snapshot.dir, sdk.dir, p.home, ...(p.ownDenoDir ? [] : [p.denoDir]), ...grants.read],
    readWrite: [...(p.ownDenoDir ? [p.denoDir] : []), ...grants.write],
    // The host's network only for `all`: a net grant goes through the egress proxy.
    net: grants.all,
    dev: true,
    tmpBytes: 64 * 1024 * 1024,
    cwd: snapshot.dir,
  };
  // The check runs in the run's own view (THREATS T14): the same wrappers, mounts, namespaces,
  // environment and loading flags. What differs widens nothing it resolves: no /dev (every
  // device is outside the roots, and an import of one fails fast instead of reading forever),
  // a small memory cap, no audit file or DENO_AUDIT_PERMISSIONS (the file lies outside every
  // root, and the check's own reads are not the plugin's to record), and no egress relay, CPU
  // cgroup or sandbox hosts file (`deno info --no-remote` reaches no network; all lie outside
  // every root).
  const checkPrefix = await wrapperFor(p, PREFLIGHT_MIB, RESERVED_MIB, {
    denoDir: p.denoDir,
    envNames: Object.keys(env),
  })({ ...mounts, dev: false });
  // The check's own spawn carries the grants too (bubblewrap's mounts, the launcher's Landlock
  // rules): checked first, it was the kernel's bare "Argument list too long" (review 167).
  checkCommandLine(
    [...checkPrefix, p.deno.path, ...infoArgs({ importMap: sdk.importMap, entry: snapshot.entry })],
    env,
    { grants: grantLists(grants) },
  );
  const graph = await verifyGraph({
    name: p.name,
    root: p.root,
    deno: p.deno.path,
    denoVersion: p.deno.version,
    snapshot,
    sdk,
    isolation: p.isolation,
    prefix: checkPrefix,
    env,
    cacheDir: p.cache,
    timeoutMs: p.timeoutMs,
    ownDirs: [p.denoDir, p.home],
    signal: p.signal, // this start's own check: killed at its abort
  });
  const denoArgs = [
    "run",
    "--no-config",
    "--no-lock",
    "--no-remote",
    "--no-npm",
    `--import-map=${sdk.importMap}`,
    `--preload=${sdk.preload}`,
    `--v8-flags=--max-old-space-size=${p.memory}`,
    ...toDenoArgs(grants),
    // Under Landlock: no granted host at the proxy's port number (see proxyPortDenials).
    ...proxyPortDenials(extras.egress?.plan),
    snapshot.entry,
    `${NONCE_FLAG}=${nonce}`,
  ];
  const auditEnv: Record<string, string> = audit ? { DENO_AUDIT_PERMISSIONS: audit.log } : {};
  // plugbox's own values last: a grant never overrides them (nor could it: see env_names.ts).
  const runEnv = { ...grants.env, ...extras.egress?.env, ...env, ...auditEnv };
  const prefix = await wrapperFor(p, p.memory, RESERVED_MIB, {
    ...extras,
    denoDir: p.denoDir,
    envNames: Object.keys(runEnv),
    auditLog: audit?.log,
    waitsForGo: waitsForGo(p),
    marksExec: true,
  })({
    ...mounts,
    // Under Landlock, a rule for this one file: the plugin's Deno writes it, nothing else there.
    readWrite: [...mounts.readWrite, ...(audit ? [audit.log] : [])],
  });
  const [command, ...wrapperArgs] = [...prefix, p.deno.path];
  return {
    command,
    args: [...wrapperArgs, ...denoArgs],
    env: runEnv,
    graph,
    ...(audit ? { audit } : {}),
    egress: extras.egress,
    cpu: extras.cpu!,
    waitsForGo: waitsForGo(p),
    marksExec: marksExec(p, extras),
    ...(climbsThrough?.length ? { climbsThrough } : {}),
  };
}
