/**
 * The process wrappers around `deno run`: the OS layer (bubblewrap: new
 * namespaces, a root that holds only Deno, its libraries and the granted
 * paths, an unprivileged id, no capabilities, no new privileges) and, for
 * both layers, a memory limit, a new session and death with the host.
 * @module
 */

import { dirname, isAbsolute, join, resolve } from "node:path";
import { type Captured, rethrowHostPermission, runCaptured } from "./exec.ts";
import { onHostPath as which } from "./host_path.ts";
import { outsideWrites } from "./paths.ts";
import { procMasks } from "./proc_masks.ts";

/**
 * Which isolation to use: `"auto"` picks `"os"` where it works, else `"deno"`.
 *
 * @example
 * ```ts ignore
 * import { type IsolationMode, startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * // In production, refuse to start without the OS layer rather than fall back.
 * const isolation: IsolationMode = Deno.env.get("PRODUCTION") ? "os" : "auto";
 * await using plugin = await startPlugin("./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   isolation,
 * });
 * ```
 */
export type IsolationMode = "auto" | "os" | "landlock" | "deno";

/**
 * The layer a plugin runs under: `"os"` (bubblewrap), `"landlock"`
 * (Landlock and seccomp, where bubblewrap cannot run) or `"deno"` (Deno's
 * permissions alone).
 *
 * @example
 * ```ts ignore
 * import { type IsolationLayer, startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * const layer: IsolationLayer = plugin.isolation;
 * console.log(`running under ${layer}`, plugin.plan.notes);
 * ```
 */
export type IsolationLayer = "os" | "landlock" | "deno";

/** Host programs the wrappers use, with absolute paths, when present. */
export interface HostTools {
  bwrap?: string;
  /** Why bubblewrap cannot be used, when it cannot. */
  bwrapProblem?: string;
  /** bubblewrap is installed set-UID: its sandbox's reaper is unreadable to a host not root. */
  bwrapSetuid?: boolean;
  prlimit?: string;
  setpriv?: string;
  /** A POSIX shell, for the prologue (CPU cgroup, seccomp filter, launcher). */
  sh?: string;
  /**
   * The shell the OS layer's sandbox runs its first step with (`GO_STEP`
   * in layers.ts): a program, mounted with what it loads. The prologue's
   * `sh` may be a script whose interpreter the sandbox lacks.
   */
  innerSh?: string;
}

/** What the OS layer mounts besides the programs and their libraries. */
export interface MountPlan {
  /** Real paths of the programs run inside (Deno, or a command plugin's interpreter). */
  programs: string[];
  /** Further files and folders the programs need (an interpreter's standard library). */
  runtime?: string[];
  /**
   * Links made in bubblewrap's root exactly as given (read from the host
   * once, when a grant was checked), not mirrored from the host again.
   */
  symlinks?: { path: string; target: string }[];
  /**
   * Paths mounted as they are, with no ldd run for them: a run or ffi
   * grant's file, and the system's library folders it loads from.
   */
  granted?: string[];
  /** Folders inside those that stay hidden under an empty tmpfs (an interpreter's site-packages). */
  hidden?: string[];
  /** Paths bound read-only at the same place. */
  readOnly: string[];
  /** Paths bound read-write at the same place. */
  readWrite: string[];
  /** Share the host's network namespace (and resolver files). */
  net: boolean;
  /** Mount a minimal `/dev` (the graph check runs without one). */
  dev: boolean;
  /** Size of the private `/tmp`, in bytes; `/dev/shm`, with `dev`, gets a quarter of it. */
  tmpBytes: number;
  /** Working directory inside the sandbox. */
  cwd: string;
  /** Files bound read-only at another place (the sandbox's own hosts file). */
  files?: { source: string; target: string }[];
  /** Sockets bound at another place (the egress proxy's). */
  sockets?: { source: string; target: string }[];
  /** Variables bubblewrap sets for the command (plugbox's launcher's own Deno dir). */
  setEnv?: Record<string, string>;
  /** Variables bubblewrap removes for the command (the audit file, set back for the plugin alone). */
  unsetEnv?: string[];
  /** Capabilities the command keeps (the launcher, which drops them before the plugin runs). */
  capabilities?: string[];
  /** bubblewrap installs the seccomp filter the prologue opened on fd 3. */
  seccomp?: boolean;
}

/**
 * The first of `candidates` that is a program file (ELF), not a script: the
 * OS layer's sandbox mounts it (and the links to it) with what `ldd` lists.
 * Its path, not its real path: a shell called `sh` (bash too) reads no
 * startup file named in the environment (`BASH_ENV`).
 */
function programShell(candidates: (string | undefined)[]): string | undefined {
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const real = Deno.realPathSync(candidate);
      using file = Deno.openSync(real);
      const magic = new Uint8Array(4);
      if (file.readSync(magic) === 4 && String.fromCharCode(...magic) === "\x7fELF") {
        return candidate;
      }
    } catch (error) {
      rethrowHostPermission(error); // not here, or not a file
    }
  }
  return undefined;
}

/** Mount operations that make `path` exist inside the sandbox as it does outside. */
function mirror(path: string, ops: string[][], seen: Set<string>, depth = 0): void {
  if (depth > 16) return; // a link loop; the bind below would fail loudly anyway
  const parts = path.split("/").filter(Boolean);
  let current = "";
  for (let i = 0; i < parts.length; i++) {
    current += `/${parts[i]}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(current);
    } catch {
      return;
    }
    if (info.isSymlink) {
      const target = Deno.readLinkSync(current);
      if (!seen.has(current)) {
        seen.add(current);
        ops.push(["--symlink", target, current]);
      }
      const base = isAbsolute(target) ? target : resolve(dirname(current), target);
      mirror(join(base, ...parts.slice(i + 1)), ops, seen, depth + 1);
      return;
    }
  }
  // "/" itself is never bound whole (review 25: it gave bubblewrap an empty path).
  if (current !== "" && !seen.has(current)) {
    seen.add(current);
    ops.push(["--ro-bind", current, current]);
  }
}

/**
 * The id the plugin has inside the OS layer's user namespace: `nobody`, not
 * root, so nothing in the sandbox treats it as privileged. (Files it makes
 * in a write grant still belong, on disk, to the host's own user.)
 */
export const SANDBOX_ID = 65534;

const libraries = new Map<string, Promise<string[]>>();

/**
 * ldd's environment (found on the host's PATH, run with a fixed one): no
 * `LD_*` variable of the host's, and `/` for a working directory, so a
 * library path of the host's (or a relative one) cannot lead the loader to
 * a file a plugin wrote (review 28). Inside a sandbox the program sees none
 * of the host's variables either. ldd runs only for Deno's own binary (and
 * a command plugin's interpreter), never for a file a grant names.
 */
const LDD = {
  timeoutMs: 10_000,
  env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" },
  cwd: "/",
};

/** A loaded object on one of ldd's lines: `\tname => /path (0x…)` or `\t/path (0x…)`. */
const LOADED = /^\t(?:[^\s/]\S* => )?(\/\S+) \(0x[0-9a-f]+\)$/;

/**
 * Whether ldd's whole output is its word for a file that loads no library
 * (a static program, static-pie, a script): the whole of it, since a line of
 * it is text a file's own names can forge (review 29).
 *
 * @example
 * ```ts ignore
 * loadsNothing({ stdout: "\tstatically linked\n", stderr: "" }); // true
 * ```
 */
export function loadsNothing(found: Pick<Captured, "stdout" | "stderr">): boolean {
  const said = (found.stdout + found.stderr).trim();
  return said === "not a dynamic executable" || said === "statically linked";
}

/**
 * The shared libraries a program loads (from ldd), plus the resolver's.
 * Only for programs the host trusts (Deno, an interpreter on its PATH): ldd
 * may run the program's loader.
 */
export function sharedLibraries(program: string): Promise<string[]> {
  const known = libraries.get(program);
  if (known) return known;
  const listed = (async () => {
    const found = await runCaptured(which("ldd") ?? "ldd", [program], LDD).catch((error) => {
      rethrowHostPermission(error);
      return undefined;
    });
    // A static program (or a script: its interpreter is a grant of its own) loads no library.
    if (found && loadsNothing(found)) return [];
    // Only ldd's lines for a loaded object (a "not found" line echoes a name a file chose).
    const paths = found?.success
      ? found.stdout.split("\n").flatMap((line) => LOADED.exec(line)?.[1] ?? [])
      : [];
    if (paths.length === 0) return ["/lib", "/lib64", "/usr/lib", "/usr/lib64"];
    // glibc loads these at run time for name resolution; ldd cannot see them.
    const libDir = dirname(Deno.realPathSync(paths.find((p) => /libc\.so/.test(p)) ?? paths[0]));
    for (const entry of Deno.readDirSync(libDir)) {
      if (/^(libnss_(files|dns)|libresolv)\.so/.test(entry.name)) {
        paths.push(join(libDir, entry.name));
      }
    }
    return paths;
  })();
  listed.catch(() => libraries.delete(program));
  libraries.set(program, listed);
  return listed;
}

const RESOLVER_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf"];

/** Bubblewrap arguments (up to, not including, the command) for a mount plan. */
export async function bwrapArgs(plan: MountPlan): Promise<string[]> {
  const ops: string[][] = [];
  const seen = new Set<string>();
  for (const program of plan.programs) {
    for (const lib of await sharedLibraries(program)) mirror(lib, ops, seen);
    mirror(program, ops, seen);
  }
  for (const path of plan.runtime ?? []) mirror(path, ops, seen);
  for (const path of plan.granted ?? []) mirror(path, ops, seen);
  for (const { path, target } of plan.symlinks ?? []) {
    if (seen.has(path)) continue;
    seen.add(path);
    ops.push(["--symlink", target, path]);
  }
  if (plan.net) { for (const file of RESOLVER_FILES) mirror(file, ops, seen); }
  const binds = [
    ...outsideWrites(plan.readOnly, plan.readWrite).map((p) => ["--ro-bind", p, p]),
    ...outsideWrites(plan.readWrite, plan.readWrite).map((p) => ["--bind", p, p]),
  ].sort((a, b) => a[1].split("/").length - b[1].split("/").length);
  return [
    "--unshare-all",
    ...(plan.net ? ["--share-net"] : []),
    "--die-with-parent",
    "--new-session",
    // Not root inside its namespace, and no capabilities at all. bubblewrap
    // always sets no-new-privileges, and mounts every bind nosuid and nodev (THREATS T21).
    "--uid",
    String(SANDBOX_ID),
    "--gid",
    String(SANDBOX_ID),
    "--cap-drop",
    "ALL",
    ...(plan.capabilities ?? []).flatMap((cap) => ["--cap-add", cap]),
    ...(plan.seccomp ? ["--seccomp", "3"] : []),
    ...Object.entries(plan.setEnv ?? {}).flatMap(([k, v]) => ["--setenv", k, v]),
    ...(plan.unsetEnv ?? []).flatMap((k) => ["--unsetenv", k]),
    "--proc",
    "/proc",
    // Read-only, all of it, as bubblewrap leaves it not: a root host's plugin is root to the
    // kernel (65534 inside is 0 outside), and root's uid alone writes /proc/sys (core_pattern
    // runs a program as the host at a crash), /proc/sysrq-trigger, /proc/irq (review 115). What
    // of /proc root may write is not listed here: none of it is the plugin's to write.
    "--remount-ro",
    "/proc",
    // bubblewrap's own init, pid 1: the plugin could write its memory (same user, no capability
    // either), and it runs under bubblewrap's filter alone, which lets the egress relay open Unix
    // sockets (review 60). Hidden, with the host paths its command line names; read-only, as
    // every tmpfs of bubblewrap's but /tmp and /dev/shm (below).
    "--tmpfs",
    "/proc/1",
    "--remount-ro",
    "/proc/1",
    // What of the kernel's /proc only root's uid may read, which 65534 here is to it on a root
    // host: the slab caches, physical pages' flags, root's key names (review 143). Covered by
    // /dev/null, bound nodev: every open of it is refused.
    ...(await procMasks()).flatMap((path) => ["--ro-bind", "/dev/null", path]),
    // The kernel's every lock, a pid namespace's or not: another sandbox's open-file-description
    // locks show there (pid -1) with their inode, so one plugin read the bit another set by a lock
    // on a file both may read (review 144). A device on a nodev mount: it opens for no one.
    "--ro-bind",
    "/dev/null",
    "/proc/locks",
    // Not the host's name (review 60).
    "--hostname",
    "plugbox",
    // /dev/shm is a folder in the /dev tmpfs: a tmpfs of its own, sized, keeps POSIX semaphores
    // and shared memory (Python's multiprocessing) working once /dev is read-only. Not recursive,
    // so /dev/shm, /dev/pts and the devices keep their own flags.
    ...(plan.dev
      ? ["--dev", "/dev", "--size", String(Math.ceil(plan.tmpBytes / 4)), "--tmpfs", "/dev/shm"]
      : []),
    // No pseudo-terminal: every devpts but the machine's first shares kernel.pty.max less its
    // reserve (3,072 of 4,096), the sandbox's own instance included, so two Python plugins granted
    // nothing took them all (2,046 and 1,025: one process's 4,096 descriptors), and every other
    // plugin's, container's or sandbox's openpty failed with ENOSPC (review 169). A plugin speaks
    // through pipes. /dev/ptmx is a link to this; /dev/null bound nodev opens for no one.
    ...(plan.dev ? ["--ro-bind", "/dev/null", "/dev/pts/ptmx"] : []),
    ...(plan.dev ? ["--remount-ro", "/dev"] : []),
    // Before the binds, so paths under /tmp (Deno itself, grants) sit on top of it.
    "--size",
    String(plan.tmpBytes),
    "--tmpfs",
    "/tmp",
    ...ops.flat(),
    ...binds.flat(),
    ...(plan.hidden ?? []).flatMap((path) => ["--tmpfs", path, "--remount-ro", path]),
    ...(plan.files ?? []).flatMap((f) => ["--ro-bind", f.source, f.target]),
    ...(plan.sockets ?? []).flatMap((f) => ["--bind", f.source, f.target]),
    // bubblewrap's tmpfs mounts have no size unless given one, and belong to the plugin's uid:
    // the root (with every mount point's parent folders), /dev, what hides /proc/1 and
    // site-packages each held up to half the machine's memory, which no RLIMIT_DATA counts (review
    // 82). Each is read-only, so only the sized /tmp and /dev/shm hold what it writes; the root
    // last, once every mount point in it is made. Not recursive: the binds keep their own flags.
    "--remount-ro",
    "/",
    "--chdir",
    plan.cwd,
  ];
}

const tools = new Map<string, Promise<HostTools>>();

/** Why `bwrap` is unset when the probe was not asked for. */
export const NOT_PROBED = 'bubblewrap was not probed: isolation "deno" was asked for';

/**
 * Finds the wrapper programs and, unless `probeBwrap` is false (isolation
 * `"deno"` needs no OS layer), checks that bubblewrap can actually start
 * Deno the way plugins are started. Each answer is made once per host
 * process, Deno binary and kind; a failed probe is forgotten, so it runs again.
 */
export function detectTools(deno: string, probeBwrap = true): Promise<HostTools> {
  const key = `${probeBwrap}\0${deno}`;
  const known = tools.get(key);
  if (known) return known;
  const found = (async () => {
    const found: HostTools = {
      prlimit: which("prlimit"),
      setpriv: which("setpriv"),
      sh: which("sh"),
    };
    if (!probeBwrap) {
      found.bwrapProblem = NOT_PROBED;
      return found;
    }
    if (Deno.build.os !== "linux") {
      found.bwrapProblem = `the OS layer needs Linux, this is ${Deno.build.os}`;
      return found;
    }
    const bwrap = which("bwrap");
    if (!bwrap) {
      found.bwrapProblem =
        "bwrap was not found on PATH (Debian/Ubuntu: apt-get install bubblewrap)";
      return found;
    }
    const args = await bwrapArgs({
      programs: [deno],
      readOnly: [],
      readWrite: [],
      net: false,
      dev: false,
      tmpBytes: 1024 * 1024,
      cwd: "/",
    });
    const probe = await runCaptured(bwrap, [...args, "--", deno, "--version"], {
      timeoutMs: 15_000,
      env: { NO_COLOR: "1" },
    }).catch((error) => {
      rethrowHostPermission(error);
      return { success: false, stderr: String(error), code: -1 };
    });
    if (probe.success) {
      found.bwrap = bwrap;
      found.bwrapSetuid = ((Deno.statSync(bwrap).mode ?? 0) & 0o4000) !== 0;
      found.innerSh = programShell(["/bin/sh", found.sh]);
    } else {
      const said = probe.stderr.trim() || `code ${probe.code}`;
      found.bwrapProblem = `bwrap could not start Deno: ${said}`;
    }
    return found;
  })();
  found.catch(() => tools.delete(key));
  tools.set(key, found);
  return found;
}

/** Limits and wrappers shared by both isolation layers. */
export interface WrapOptions {
  /** The hard cap on writable private memory, in bytes (RLIMIT_DATA). */
  dataLimitBytes: number;
  /**
   * The host runs as root: under the Deno and Landlock layers the plugin's
   * capabilities are dropped (it keeps the host's uid, not root's powers).
   */
  root?: boolean;
  /** The cap on CPU time per process, in seconds (RLIMIT_CPU): a backstop. */
  cpuSeconds?: number;
  /** The most signals queued to it (RLIMIT_SIGPENDING), where native code runs (prologue.ts). */
  pendingSignals?: number;
}

function limits(options: WrapOptions): string[] {
  const cpu = options.cpuSeconds;
  // No core dump (prologue.ts says why).
  return [
    `--data=${options.dataLimitBytes}`,
    "--core=0:0",
    ...(cpu ? [`--cpu=${cpu}:${cpu}`] : []),
    ...(options.pendingSignals
      ? [`--sigpending=${options.pendingSignals}:${options.pendingSignals}`]
      : []),
  ];
}

/**
 * The command prefix that runs Deno under the OS layer:
 * `prlimit --data=N -- bwrap ... --`, without `prlimit` when the prologue
 * sets the limits (`limitsHeld`). Bubblewrap provides the new session and
 * death with the host.
 */
export function osPrefix(
  found: HostTools,
  bwrap: string[],
  options: WrapOptions,
  limitsHeld = false,
): string[] {
  const limit = found.prlimit && !limitsHeld ? [found.prlimit, ...limits(options), "--"] : [];
  return [...limit, found.bwrap!, ...bwrap, "--"];
}

/**
 * The command prefix that runs Deno under the Deno layer alone: the memory
 * cap, SIGKILL when the host dies, no new privileges (a set-UID program
 * cannot raise them) and, for a root host, no capabilities. The new session
 * is the spawn's (`detached`), not a program's. The memory cap is `prlimit`'s unless the
 * prologue sets it (`limitsHeld`). A missing tool drops its part, and
 * {@linkcode missingHardening} says which.
 */
export function denoPrefix(found: HostTools, options: WrapOptions, limitsHeld = false): string[] {
  const prefix: string[] = [];
  if (found.prlimit && !limitsHeld) prefix.push(found.prlimit, ...limits(options), "--");
  if (found.setpriv) {
    prefix.push(found.setpriv, "--pdeathsig", "KILL", "--no-new-privs");
    if (options.root) prefix.push("--inh-caps=-all", "--bounding-set=-all");
    prefix.push("--");
  }
  return prefix;
}

/** The hardening a missing tool costs under the Deno layer, for the plan's report. */
export function missingHardening(found: HostTools): string[] {
  const missing: string[] = [];
  if (!found.prlimit && !found.sh) {
    missing.push("memory limit beyond the V8 heap (neither sh nor prlimit found)");
  }
  if (!found.setpriv) {
    missing.push(
      "death with the host, no-new-privileges and dropped capabilities (setpriv not found)",
    );
  }
  return missing;
}
