/**
 * The command prefix each isolation layer puts before a plugin's program:
 * the prologue (CPU cgroup, seccomp filter, launcher's Deno dir), the
 * memory and CPU-time limits, and then bubblewrap (with the seccomp filter,
 * and for a net grant its own network namespace, the egress relay and
 * plugbox's launcher), or plugbox's launcher with Landlock and seccomp, or
 * Deno's permissions alone (a new session and death with the host).
 * @module
 */

import { join } from "node:path";
import { IsolationUnavailableError } from "../errors.ts";
import { type CpuPlan, machineTaskShare } from "./cpu_limits.ts";
import { type EgressSetup, SANDBOX_SOCKET } from "./egress.ts";
import {
  bwrapArgs,
  denoPrefix,
  type HostTools,
  type IsolationLayer,
  type MountPlan,
  osPrefix,
  sharedLibraries,
  type WrapOptions,
} from "./isolation.ts";
import { inheritedDescriptors } from "./inherited_fds.ts";
import { checkSandboxArgs } from "./command_line.ts";
import { launcherArgs, type LauncherFiles, relayArgs } from "./launcher.ts";
import type { LauncherSpec } from "./launcher_script.ts";
import { PENDING_SIGNALS, PLUGIN_CGROUP_FD, type ProcessLimits, prologue } from "./prologue.ts";
import { EXEC_MARK } from "./start_verdict.ts";
import { outsideWrites } from "./paths.ts";
import { type SeccompArch, seccompProgram, unixSocketRefusal } from "./seccomp.ts";

/** The lowest Landlock ABI the Landlock layer runs on: filesystem and TCP-port rules. */
export const LANDLOCK_MIN_ABI = 4;

/** Where the launcher and relay keep their Deno dir inside bubblewrap (its private /tmp). */
const SANDBOX_LAUNCHER_DIR = "/tmp/.plugbox-launcher";

/** Address space plugbox's own Deno scripts (launcher, relay) need, in bytes. */
const HELPER_DATA_BYTES = 1024 * 1024 * 1024;

/**
 * What the memory cgroup holds besides the plugin's own cap when the egress relay runs in the
 * sandbox (a root host's cgroup holds every process of the sandbox together). The relay is Deno:
 * about 11 MiB of its own memory idle, 48 MiB with 250 connections open whose readers take
 * nothing. Charged to the plugin's cap, a command plugin of 32 MiB granted net was killed, or its
 * relay was and its network went without a word, once it held 16 MiB (review 161). The plugin
 * itself is held to its cap in a cgroup of its own inside that one (review 163): the 64 MiB are
 * the relay's, not the sandbox's (a plugin of 32 MiB held 72 MiB of shared memory). The relay
 * copies through fixed buffers: a plugin that sent into 256 connections to a target that read
 * nothing left it holding about 20 MiB (67 to 74 MiB of garbage before, past these 64).
 */
export const RELAY_MEMORY_BYTES = 64 * 1024 * 1024;

/** In the Landlock layer's seccomp program, stands for the plugin's pid (set by the launcher). */
const PID_PLACEHOLDER = 0x7ffffff0;

/** What the OS layers found about this machine at prepare time. */
export interface LayerSupport {
  arch?: SeccompArch;
  /** The seccomp filter for bubblewrap, in the cache. */
  seccompFile?: string;
  /**
   * The same, but Unix sockets may be opened: for a sandbox with the egress
   * relay, whose launcher refuses them to the plugin before it runs.
   */
  relaySeccompFile?: string;
  /**
   * Each of the two, for native code (a command plugin; a `run`, `ffi` or
   * `all` grant): no query of record locks either (seccomp.ts `nativeCode`).
   */
  nativeSeccompFile?: string;
  nativeRelaySeccompFile?: string;
  /** Each of the two native ones, lock queries allowed (`unsafe.lockQueries`). */
  lockQuerySeccompFile?: string;
  lockQueryRelaySeccompFile?: string;
  /** The Landlock ABI (Landlock layer only). */
  landlockAbi?: number;
  launcher?: LauncherFiles;
  libc?: string;
}

/** Everything a prefix is built from. */
export interface LayerContext {
  layer: IsolationLayer;
  tools: HostTools;
  support: LayerSupport;
  deno: string;
  cache: string;
  /** The plugin's own Deno dir, set back for it after the launcher (a command plugin has none). */
  denoDir?: string;
  /** The names of the plugin's environment (the launcher passes on only these). */
  envNames: string[];
  limits: WrapOptions;
  egress?: EgressSetup;
  cpu?: CpuPlan;
  /**
   * The audit file (DENO_AUDIT_PERMISSIONS): the launcher's own Deno runs
   * without it, and sets it for the plugin alone, so the file holds the
   * plugin's checks and nothing of plugbox's launcher.
   */
  auditLog?: string;
  /**
   * The OS layer's sandbox runs the plugin only after a line on its stdin
   * ({@linkcode GO_STEP}): the host sends it once the sandbox's death
   * signals are armed. For the plugin's own start, not the graph check.
   */
  waitsForGo?: boolean;
  /**
   * plugbox's last step before the plugin writes start_verdict.ts's `EXEC_MARK` on stderr just
   * before the exec (the launcher where one runs, else the prologue): for the plugin's own start,
   * not the graph check. Whether a chain writes it is {@linkcode execMarked}'s.
   */
  marksExec?: boolean;
  /** The plugin runs native code (a command, or a `run`, `ffi` or `all` grant), past Deno's checks. */
  nativeCode?: boolean;
  /** `unsafe.lockQueries`: native code may ask who holds a record lock. */
  lockQueries?: boolean;
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/**
 * Whether a start's chain writes the exec mark (start_verdict.ts): the launcher always does, where
 * one runs (the Landlock layer; the OS layer with the egress relay), and the prologue, which runs
 * wherever there is a shell. Without either, nothing of plugbox's writes on stderr before the plugin.
 */
export function execMarked(layer: IsolationLayer, sh: boolean, relay: boolean): boolean {
  return layer === "landlock" || (layer === "os" && relay) || sh;
}

/** The command prefix for `mounts` under the context's layer (everything before the program). */
export async function layerPrefix(ctx: LayerContext, mounts: MountPlan): Promise<string[]> {
  if (ctx.layer === "os") return await bubblewrapPrefix(ctx, mounts);
  if (ctx.layer === "landlock") return await landlockPrefix(ctx, mounts);
  const limits = limitsOf(ctx);
  if (!ctx.tools.sh) refuseInheritedDescriptors();
  return [
    ...prologue(ctx.tools.sh, {
      cgroup: ctx.cpu?.cgroup,
      limits: heldBy(ctx, limits),
      marksExec: ctx.marksExec,
    }),
    ...denoPrefix(ctx.tools, limits, Boolean(ctx.tools.sh)),
    ...hostCheck(ctx.tools),
  ];
}

/**
 * Without sh no prologue runs, so nothing closes the descriptors the host inherited before the
 * plugin starts, and a plugin granted nothing adopts one through `node:net` (review 121). Such a
 * start is refused, as one whose descriptor above 9 finds no bash is; so is one where the host
 * cannot tell (no `/proc`, or no read of it): an unknown must not widen what a plugin holds.
 */
function refuseInheritedDescriptors(): void {
  const found = inheritedDescriptors();
  if (typeof found !== "string" && found.length === 0) return;
  const what = typeof found === "string"
    ? `plugbox cannot tell which descriptors the host inherited from its parent (${found})`
    : `the host inherited descriptor${found.length > 1 ? "s" : ""} ${found.slice(0, 8).join(", ")}${
      found.length > 8 ? ", …" : ""
    } from its parent, which the plugin would inherit in turn`;
  throw new IsolationUnavailableError(
    "deno",
    `${what}; the step that closes them runs in sh, and no sh is on the host's PATH: start the ` +
      `host with sh on its PATH, or with no descriptor above 2 left open`,
  );
}

/**
 * Run right after `setpriv --pdeathsig KILL`: ends the start unless the
 * host is still this process's parent. setpriv arms the death signal
 * against whatever parent it has then; a host SIGKILLed a moment before
 * left a plugin that nothing would ever end. `$PPID` is read after the
 * arming, so either the host was alive then (and its death ends the
 * plugin) or the plugin never runs.
 */
function hostCheck(tools: HostTools): string[] {
  if (!tools.setpriv || !tools.sh) return [];
  return [tools.sh, "-c", HOST_CHECK, "sh", `${Deno.pid}`];
}

/** {@linkcode hostCheck}'s script; the argument two after it is the host's pid. */
export const HOST_CHECK = '[ "$PPID" = "$1" ] || exit 125; shift; exec "$@"';

/**
 * The OS layer's first step inside the sandbox: the plugin runs only after a
 * line on stdin, and never if stdin ends first. bubblewrap arms its death
 * signals late (its outer process after the namespaces, its reaper only in
 * its wait loop), each against whatever parent it has then: a host SIGKILLed
 * in the first milliseconds left sandboxes that nothing would end. The host
 * sends the line only once it has seen the reaper wait while still the
 * outer process's child (`exit_cause.ts`): then every link from the host to
 * the plugin is armed against a live parent. A dead host sends nothing, its
 * end of the pipe closes, `read` fails and the sandbox ends. `read` takes one
 * byte at a time from a pipe, so the plugin's input starts after the line.
 *
 * It also holds the sandbox's tasks (processes and threads) to `$1` with
 * RLIMIT_NPROC, soft and hard: the plugin's `cpu.maxTasks`, else its share of
 * the machine's ({@linkcode machineTaskShare}, 64 where pid_max is 32,768):
 * at 8,192 each, four plugins would take every pid of such a machine, and
 * nothing shared out what a host not root leaves its plugins (review 164).
 * Under a lower hard limit of the host's the step fails and the host's
 * limits hold; a lower soft one is raised, as the plugin itself could. Set here, inside the
 * sandbox's user namespace, the kernel counts against it only that
 * namespace's tasks of the plugin's uid, not the host user's: a host that is
 * not root makes no pids cgroup, and a Python plugin granted nothing made
 * 8,992 threads when asked to, as many as the host's user may have (96,367
 * here, past the machine's pid_max of 32,768; review 148). Set before
 * bubblewrap, the namespace's own limit would hold the host's tasks to it
 * too. A root host's plugin is root to the kernel, which ignores the limit:
 * its pids cgroup holds it. `ulimit -u` is dash's `-p` (bash's `-p`, the
 * pipe size, fails).
 */
export const GO_STEP = "read -r go || exit 125; t=$1; shift; " +
  '{ ulimit -u "$t" && ulimit -H -u "$t"; } 2>/dev/null || ' +
  '{ ulimit -p "$t" && ulimit -H -p "$t"; } 2>/dev/null; ' +
  'exec "$@"';

/** The line the host sends for {@linkcode GO_STEP}. */
export const GO_LINE: Uint8Array = new Uint8Array([0x0a]);

/** The limits the prologue sets with `ulimit` where there is a shell: one program fewer per start. */
function heldBy(ctx: LayerContext, limits: WrapOptions): ProcessLimits | undefined {
  return ctx.tools.sh ? limits : undefined;
}

function limitsOf(ctx: LayerContext): WrapOptions {
  return {
    ...ctx.limits,
    cpuSeconds: ctx.cpu?.rlimitSeconds,
    // Native code may queue signals, each counted against the host's user (review 169); Deno
    // queues none, and the limit costs a start through dash one more program (prologue.ts).
    ...(ctx.nativeCode ? { pendingSignals: PENDING_SIGNALS } : {}),
  };
}

/** The audit variable, which the launcher's own Deno must not see. */
const AUDIT_VARIABLE = "DENO_AUDIT_PERMISSIONS";

/** What the launcher sets back after its own start: the plugin's Deno dir (or none), its audit file. */
function restore(ctx: LayerContext): Record<string, string | null> {
  return {
    DENO_DIR: ctx.denoDir ?? null,
    ...(ctx.auditLog ? { [AUDIT_VARIABLE]: ctx.auditLog } : {}),
  };
}

/** bubblewrap, with the seccomp filter; for a net grant, the relay started by the launcher. */
async function bubblewrapPrefix(ctx: LayerContext, mounts: MountPlan): Promise<string[]> {
  const limits = limitsOf(ctx);
  // bubblewrap reads the filter from a descriptor the prologue opens: no sh, no filter (noted).
  const seccompFile = ctx.tools.sh ? filterFor(ctx) : undefined;
  const inside: MountPlan = { ...mounts, seccomp: seccompFile !== undefined };
  const sh = ctx.tools.innerSh;
  // Mounted for the graph check too, so that it runs in the plugin's view.
  if (sh && !inside.programs.includes(sh)) inside.programs = [...inside.programs, sh];
  const tasks = String(ctx.cpu?.maxTasks ?? machineTaskShare());
  const go = ctx.waitsForGo && sh ? [sh, "-c", GO_STEP, "sh", tasks] : [];
  // The relay's own memory is not the plugin's: the cgroup holds it on top of the plugin's cap,
  // and the plugin is held to its cap in a cgroup of its own inside it, which the launcher joins
  // just before the exec. Its sockets' buffers keep the plugin's cap: raised with it, a command
  // plugin of 32 MiB held 85 MiB in TCP and 95 MiB in UDP buffers of its own loopback (review 162).
  const held = ctx.cpu?.cgroup;
  const own = Boolean(ctx.egress?.relay && held?.memoryBytes && held.pluginMemoryDir);
  const launcher = ctx.egress?.relay ? withRelay(ctx, inside, own) : [];
  // With the relay, Deno runs first: the launcher sets the plugin's own limit before the exec.
  const outer = launcher.length
    ? { ...limits, dataLimitBytes: Math.max(limits.dataLimitBytes, HELPER_DATA_BYTES) }
    : limits;
  const cgroup = launcher.length && held?.memoryBytes
    ? {
      ...held,
      memoryBytes: held.memoryBytes + RELAY_MEMORY_BYTES,
      socketBytes: held.socketBytes ?? held.memoryBytes,
      ...(own ? { pluginMemoryBytes: held.memoryBytes } : {}),
    }
    : held;
  const box = await bwrapArgs(inside);
  checkSandboxArgs(box);
  return [
    ...prologue(ctx.tools.sh, {
      cgroup,
      seccompFile,
      limits: heldBy(ctx, outer),
      marksExec: ctx.marksExec && !launcher.length,
    }),
    ...osPrefix(ctx.tools, box, outer, Boolean(ctx.tools.sh)),
    ...go,
    ...launcher,
  ];
}

/** bubblewrap's filter for the context: with the relay's Unix sockets or not, for native code or not. */
function filterFor({ support, egress, nativeCode, lockQueries }: LayerContext): string | undefined {
  if (!nativeCode) return egress?.relay ? support.relaySeccompFile : support.seccompFile;
  if (lockQueries) {
    return egress?.relay ? support.lockQueryRelaySeccompFile : support.lockQuerySeccompFile;
  }
  return egress?.relay ? support.nativeRelaySeccompFile : support.nativeSeccompFile;
}

/**
 * Adds the egress relay's mounts to `inside`; returns the launcher that starts it, and, where
 * `ownCgroup`, moves itself into the plugin's own memory cgroup just before the exec.
 */
function withRelay(ctx: LayerContext, inside: MountPlan, ownCgroup: boolean): string[] {
  const { egress, support } = ctx;
  const files = egress!.files!;
  inside.files = [
    { source: files.hosts, target: "/etc/hosts" },
    { source: files.nsswitch, target: "/etc/nsswitch.conf" },
  ];
  inside.sockets = [{ source: egress!.plan.socket!, target: SANDBOX_SOCKET }];
  inside.runtime = [...(inside.runtime ?? []), support.launcher!.dir];
  if (!inside.programs.includes(ctx.deno)) inside.programs = [...inside.programs, ctx.deno];
  inside.setEnv = { DENO_DIR: SANDBOX_LAUNCHER_DIR };
  if (ctx.auditLog) inside.unsetEnv = [AUDIT_VARIABLE];
  // The relay binds the grants' ports (443 included); the launcher drops it before the plugin runs.
  inside.capabilities = ["CAP_NET_BIND_SERVICE"];
  const env = { DENO_DIR: SANDBOX_LAUNCHER_DIR, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  const spec: Omit<LauncherSpec, "nr"> = {
    mode: "launch",
    libc: support.libc!,
    setEnv: restore(ctx),
    keepEnv: ctx.envNames,
    dataLimitBytes: ctx.limits.dataLimitBytes,
    ...(ownCgroup ? { cgroupFd: PLUGIN_CGROUP_FD } : {}),
    ...(ctx.marksExec ? { execMark: EXEC_MARK } : {}),
    relay: { program: ctx.deno, args: relayArgs(support.launcher!, egress!.relay!), env },
    // The relay, started first, opens Unix sockets to the proxy; the plugin may open none. The
    // plugin cannot take the relay over through /proc/<pid>/mem: the relay keeps a capability
    // (CAP_NET_BIND_SERVICE, above) the plugin lacks, so the kernel refuses it that access.
    seccomp: base64(unixSocketRefusal(support.arch!)),
  };
  return launcherArgs(ctx.deno, support.launcher!, spec, support.arch!);
}

/**
 * The devices bubblewrap's `--dev` gives a sandbox, for Landlock's ruleset
 * where the plan has them: a program started with its output to "null"
 * (Deno's `stdout: "null"`) opens `/dev/null`. Never the host's `/dev/shm`,
 * `/dev/tty` or a disk.
 */
const DEVICES_READ = ["/dev/zero", "/dev/random", "/dev/urandom"];
const DEVICES_WRITE = ["/dev/null", "/dev/full"];

/**
 * What the Landlock layer lets the plugin read of its own `/proc/<pid>`
 * (the launcher's, which becomes the plugin's): every entry but `net`, and
 * `task`, which holds a `net` per thread. That is the network namespace's,
 * and the Landlock layer keeps the host's: its socket tables (every TCP
 * connection and listener of the host, every other plugin's egress proxy and
 * the addresses it reaches, every Unix socket's path), which the seccomp
 * filter refuses through netlink (review 60) and native code read as a file
 * (review 87). The folder itself may be listed. Not `cwd`, `exe` or `root`
 * either: the launcher opens a rule's path through its links, and these
 * lead to folders (`root` to `/`); Landlock judges the file a link leads to,
 * never the link.
 */
const PROC_SELF = (
  "arch_status attr autogroup auxv cgroup clear_refs cmdline comm coredump_filter cpuset " +
  "environ fd fdinfo gid_map io ksm_merging_pages ksm_stat limits loginuid map_files maps " +
  "mem mountinfo mounts mountstats ns numa_maps oom_adj oom_score oom_score_adj pagemap " +
  "personality projid_map sched schedstat sessionid setgroups smaps smaps_rollup stack " +
  "stat statm status syscall timens_offsets timers timerslack_ns uid_map wchan"
).split(" ").map((name) => `/proc/self/${name}`);

/** Landlock: the launcher confines itself, then becomes the plugin. */
async function landlockPrefix(ctx: LayerContext, mounts: MountPlan): Promise<string[]> {
  const { support } = ctx;
  const libraries = (await Promise.all(mounts.programs.map(sharedLibraries))).flat();
  const port = ctx.egress?.plan.port;
  const scoped = support.landlockAbi! >= 6; // else the filter keeps signals to the plugin itself
  const program = seccompProgram(support.arch!, {
    landlock: true,
    signalsOnlyTo: scoped ? undefined : PID_PLACEHOLDER,
    nativeCode: ctx.nativeCode,
    lockQueries: ctx.lockQueries,
  });
  const readable = [
    ...mounts.programs,
    ...libraries,
    ...(mounts.granted ?? []),
    ...(mounts.runtime ?? []),
    ...mounts.readOnly,
    ...(mounts.dev ? DEVICES_READ : []),
  ];
  const spec: Omit<LauncherSpec, "nr"> = {
    mode: "launch",
    libc: support.libc!,
    setEnv: restore(ctx),
    keepEnv: ctx.envNames,
    landlock: {
      minAbi: LANDLOCK_MIN_ABI,
      // A rule opens its path through whatever links lie there: none inside a writable folder.
      readOnly: [...outsideWrites([...new Set(readable)], mounts.readWrite), ...PROC_SELF],
      listOnly: ["/proc/self"],
      readWrite: [
        ...outsideWrites(mounts.readWrite, mounts.readWrite),
        ...(mounts.dev ? DEVICES_WRITE : []),
      ],
      connectPorts: port === undefined ? [] : [port],
    },
    seccomp: base64(program),
    pidPlaceholder: scoped ? undefined : PID_PLACEHOLDER,
    ...(ctx.marksExec ? { execMark: EXEC_MARK } : {}),
  };
  const launcherDenoDir = join(ctx.cache, "launcher", "deno_dir");
  return [
    ...prologue(ctx.tools.sh, {
      cgroup: ctx.cpu?.cgroup,
      launcherDenoDir,
      unset: ctx.auditLog ? AUDIT_VARIABLE : undefined,
      limits: heldBy(ctx, limitsOf(ctx)),
    }),
    ...denoPrefix(ctx.tools, limitsOf(ctx), Boolean(ctx.tools.sh)),
    ...hostCheck(ctx.tools),
    ...launcherArgs(ctx.deno, support.launcher!, spec, support.arch!),
  ];
}
