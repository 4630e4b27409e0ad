/**
 * Everything a start decides before its launch is built: the plugin's
 * identity, cache, Deno binary and tools, snapshot, kind (a Deno module or a
 * command), isolation, grants and manifest review.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { IsolationUnavailableError } from "../errors.ts";
import { afterProbes, afterWrites, unlessAborted } from "./abort.ts";
import { checkCommand, type CommandRuntime, resolveCommand } from "./command.ts";
import { prefetchControllers } from "./cgroup_probe.ts";
import { type DenoBinary, hostSearch, resolveDeno } from "./deno_binary.ts";
import { alsoRead, ownRuntimeFiles, type RuntimeNames, runtimeNames } from "./env_names.ts";
import { hostBash } from "./prologue.ts";
import {
  detectTools,
  type HostTools,
  type IsolationLayer,
  type IsolationMode,
  sharedLibraries,
} from "./isolation.ts";
import { type FoundSupport, layerSupport } from "./layer_support.ts";
import type { LayerSupport } from "./layers.ts";
import { refuseSharedCache, refuseSharedLinks } from "./cache_owner.ts";
import { emptyDenoDir, sdkSeed, seedOwnDenoDir } from "./code_cache.ts";
import { checkLock, refuseKeyReaders } from "./lock.ts";
import { lengthenKeyFile } from "./lock_file.ts";
import type { Prepared } from "./launch_deno.ts";
import {
  codeRoots,
  defaultCacheDir,
  mainModuleUnknown,
  pluginDirs,
  releaseDenoDir,
  resolveEntry,
  toPath,
} from "./locate.ts";
import { programFolders } from "./path_programs.ts";
import { ensureSdk } from "./sdk.ts";
import { applyManifest, narrowGrants, readManifest } from "./manifest.ts";
import { refusePrivateNets } from "./net.ts";
import { canonicalLoose, canonicalPath, isWithin, trimSeparator } from "./paths.ts";
import { refuseLinkFollowing } from "./grant_rules.ts";
import {
  type ResolvedGrants,
  resolveGrants,
  runsAsRoot,
  type UnsafeAcknowledgements,
} from "./permissions.ts";
import type { LaunchOptions } from "./plan.ts";
import {
  DEFAULT_CACHE_BYTES,
  releaseSnapshot,
  type Snapshot,
  type SnapshotLimits,
  takeSnapshot,
} from "./snapshot.ts";
import { neutralize } from "../wire/mod.ts";
import { osReason } from "./claim_file.ts";
import { readingThrew } from "./option_keys.ts";

function validateNumber(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(
      `Cannot start plugin: "${name}" must be an integer from ${min} to ${max}, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/** The bounds a folder walk may be given, least and most (a depth of 0: no subfolders). */
const SNAPSHOT_BOUNDS: Record<keyof SnapshotLimits, [number, number]> = {
  maxFiles: [1, 1_000_000],
  maxBytes: [1, 2 ** 40],
  maxDepth: [0, 4096],
  maxEntries: [1, 1_000_000],
};

/**
 * The host's bounds on the folder, each checked; one left `undefined` keeps
 * its default. Spread as given, `NaN` or an explicit `undefined` lifted the
 * cap (every comparison with them is false), and a negative one refused
 * the folder as though the plugin had passed it (review 81).
 */
function snapshotLimitsOf(limits: SnapshotLimits | undefined): SnapshotLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError(`Cannot start plugin: "snapshotLimits" must be an object, got ${limits}`);
  }
  const checked: SnapshotLimits = {};
  const bounds = Object.entries(SNAPSHOT_BOUNDS) as [keyof SnapshotLimits, [number, number]][];
  for (const [key, [min, max]] of bounds) {
    const value = limits[key];
    if (value !== undefined) {
      checked[key] = validateNumber(`snapshotLimits.${key}`, value, min, max);
    }
  }
  return checked;
}

const MODES: readonly string[] = ["auto", "os", "landlock", "deno"];

/** Picks the layer: bubblewrap where it works, else Landlock where it works, else Deno's permissions. */
function chooseIsolation(
  mode: IsolationMode,
  tools: HostTools,
  landlock: FoundSupport,
  notes: string[],
  command: string | undefined,
): IsolationLayer {
  if (!MODES.includes(mode)) {
    throw new TypeError(
      `Cannot start plugin: "isolation" must be "auto", "os", "landlock" or "deno", got "${mode}"`,
    );
  }
  if (command !== undefined) {
    const why = `the plugin runs a command ("${command}"), not a Deno module: no Deno ` +
      `permissions can hold it, so it runs only under bubblewrap`;
    if (mode === "deno" || mode === "landlock") {
      throw new IsolationUnavailableError(mode, `${why} (isolation "os" or "auto")`);
    }
    if (!tools.bwrap) {
      throw new IsolationUnavailableError(mode, `${why}, and ${tools.bwrapProblem}`);
    }
    notes.push(`isolation "${mode}" is "os": ${why}`);
    return "os";
  }
  if (mode === "os" && !tools.bwrap) throw new IsolationUnavailableError("os", tools.bwrapProblem!);
  if (mode === "landlock" && landlock.problem) {
    throw new IsolationUnavailableError("landlock", landlock.problem);
  }
  if (mode === "auto" && tools.bwrap) {
    notes.push(`isolation "auto" chose "os": bubblewrap works here`);
    return "os";
  }
  if (mode === "auto" && !landlock.problem) {
    notes.push(
      `isolation "auto" chose "landlock": ${tools.bwrapProblem}; Landlock ABI ${landlock.landlockAbi}, ` +
        `a seccomp filter and no-new-privileges hold the plugin instead`,
    );
    return "landlock";
  }
  if (mode === "auto") {
    notes.push(`isolation "auto" chose "deno": ${tools.bwrapProblem}, and ${landlock.problem}`);
    return "deno";
  }
  if (mode === "landlock") {
    notes.push(
      `isolation "landlock": Landlock ABI ${landlock.landlockAbi}, a seccomp filter and no-new-privileges hold the plugin`,
    );
  }
  return mode as IsolationLayer;
}

/** What Deno's permission kinds mean for a command plugin, which has none of them. */
const NOT_FOR_COMMANDS: Record<string, string> = {
  sys:
    `its view of the system is the OS layer's (its own hostname and /proc); sys names are Deno's`,
  run: `it may run what its sandbox holds and nothing else; run is a Deno permission`,
  ffi: `it may load what its sandbox holds and nothing else; ffi is a Deno permission`,
  all: `all is a Deno permission`,
};

function refuseDenoOnlyGrants(name: string, grants: ResolvedGrants): void {
  // net is held by the egress proxy, outside the plugin, whatever its language.
  for (const kind of ["sys", "run", "ffi"] as const) {
    if (grants[kind].length > 0) {
      throw new TypeError(
        `Cannot start plugin "${name}": a command plugin cannot be granted ${kind} "${
          grants[kind][0]
        }": ${NOT_FOR_COMMANDS[kind]}`,
      );
    }
  }
  if (grants.all) {
    throw new TypeError(
      `Cannot start plugin "${name}": a command plugin cannot be granted all: ${NOT_FOR_COMMANDS.all}`,
    );
  }
}

/**
 * Landlock's TCP rule is a port number on every address, and seccomp cannot
 * read the address a `connect()` names: native code (`ffi`, or a program a
 * `run` grant names: review 87, curl reached another address at the proxy's
 * port) with a net grant would reach any host on the egress proxy's port
 * number, past the proxy and its log. No layer here holds that promise, so
 * the host chooses: bubblewrap (its own network namespace), or the Deno
 * layer, where native code's network is known to be unfiltered.
 */
function refuseNativeNetUnderLandlock(mode: IsolationMode, grants: ResolvedGrants): void {
  const native = grants.ffi.length > 0
    ? `ffi "${grants.ffi[0]}"`
    : grants.run.length > 0
    ? `run "${grants.run[0]}"`
    : undefined;
  if (native === undefined || grants.net.length === 0 || grants.all) return;
  throw new IsolationUnavailableError(
    mode,
    `${mode === "auto" ? `"auto" chose "landlock", and ` : ""}the Landlock layer cannot hold ` +
      `${native} together with net "${grants.net[0]}": Landlock limits TCP by port ` +
      `number on every address, so native code could reach any host on the egress proxy's port, ` +
      `past the proxy; run it under the OS layer (isolation "os", bubblewrap), drop one of the two ` +
      `grants, or pass isolation "deno" to accept native code's unfiltered network`,
  );
}

/**
 * The host's `root` option, canonical: an existing folder, else a
 * `TypeError` naming it (review 81: a missing one was Deno's `NotFound` for
 * a `realpath`, a file the plugin's "unreadable" folder).
 */
function rootOf(option: string | URL): string {
  const path = toPath(option, "root");
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    // As the module's (locate.ts): a loop on the way or a name too long was Deno's bare error.
    const missing = cause instanceof Deno.errors.NotFound ||
      cause instanceof Deno.errors.NotADirectory;
    throw new TypeError(
      `Cannot start plugin: root "${neutralize(path)}" ${
        missing ? "does not exist" : `cannot be looked up: ${osReason(cause)}`
      }`,
      { cause },
    );
  }
  if (!info.isDirectory) {
    throw new TypeError(`Cannot start plugin: root "${neutralize(path)}" must be a folder`);
  }
  return canonicalPath(path);
}

/** The plugin's identity: entry, root and name, each checked; paths canonical (paths.ts). */
function identify(module: string | URL, options: LaunchOptions) {
  const entry = resolveEntry(module);
  const root = options.root === undefined ? canonicalPath(dirname(entry)) : rootOf(options.root);
  const name = options.name ?? basename(root);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    // Most often the name is the folder's: say so, and how to give another (review 42).
    const from = options.name === undefined
      ? ` (its folder's name; give another with the "name" option, plug's --name=NAME)`
      : "";
    throw new TypeError(
      `Cannot start plugin: name "${
        neutralize(name, 80)
      }"${from} must be ASCII letters, digits, ".", "_" or "-", starting with a letter or digit (at most 64)`,
    );
  }
  if (!isWithin(entry, root)) {
    throw new TypeError(
      `Cannot start plugin "${name}": module "${neutralize(entry)}" is not inside root "${
        neutralize(root)
      }"`,
    );
  }
  return { entry, root, name };
}

/** The command a plugin runs, if it is a command plugin: the host's option, else its manifest's. */
function commandOf(name: string, snapshot: Snapshot, root: string, options: LaunchOptions) {
  if (options.command !== undefined) return checkCommand(name, options.command, "options");
  const declared = readManifest(name, snapshot.dir, root).manifest.command;
  return declared === undefined ? undefined : checkCommand(name, declared, "manifest");
}

/** The bound on the cache's snapshots: bytes, or `Infinity` for none. */
function cacheBytesOf(bytes: number | undefined): number {
  if (bytes === undefined) return DEFAULT_CACHE_BYTES;
  if (bytes === Infinity) return bytes;
  return validateNumber("snapshotCacheBytes", bytes, 0, Number.MAX_SAFE_INTEGER);
}

/** The cache folder, made if needed, by its real path. */
async function openCache(options: LaunchOptions): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  // An empty path is the working directory to every call below: the cache landed there (review 81).
  if (typeof cacheDir !== "string" || cacheDir === "") {
    throw new TypeError(
      `Cannot start plugin: "cacheDir" must be a non-empty path, got ${
        cacheDir === "" ? "an empty string" : typeof cacheDir
      }`,
    );
  }
  // Only this user's: the folders it makes hold code every start runs (review 92). Nor a link
  // another user may aim, before anything is made where it leads (review 120).
  refuseSharedLinks(cacheDir);
  await Deno.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  refuseSharedLinks(cacheDir, cacheDir);
  const canonical = canonicalPath(cacheDir);
  refuseSharedCache(canonical);
  lengthenKeyFile(canonical);
  return canonical;
}

/** Refuses net grants whose names this machine resolves to a private address now (THREATS T18). */
async function refusePrivateNames(
  grants: ResolvedGrants,
  unsafe: UnsafeAcknowledgements | undefined,
  signal: AbortSignal | undefined,
) {
  if (unsafe?.privateNetwork === true) return;
  await refusePrivateNets(grants.net, { signal });
}

/**
 * The names the plugin's runtime reads itself, from the files that run it
 * (THREATS T16): Deno and the libraries it loads, or a command plugin's
 * programs and theirs, the shell the OS layer's sandbox runs first
 * (`innerSh`: it reads the plugin's environment too, before the plugin
 * runs), and the host's bash, the prologue's. An env grant of any of them
 * is refused.
 */
async function namesOf(
  deno: DenoBinary,
  runtime: CommandRuntime | undefined,
  cache: string,
  innerSh: string | undefined,
): Promise<RuntimeNames> {
  const programs = runtime ? runtime.programs : [deno.path];
  const files = [...programs, ...(runtime?.claimed ?? [])];
  for (const program of programs) files.push(...await sharedLibraries(program));
  // And what this process has mapped (its binary, its libraries): a Deno loads the same ones.
  if (!runtime) files.push(...ownRuntimeFiles());
  const label = runtime ? `its program "${neutralize(basename(runtime.argv[0]), 100)}"` : "Deno";
  const store = join(cache, "runtime-names");
  let names = runtimeNames([...new Set(files)], store, label);
  if (innerSh) {
    const shFiles = [innerSh, ...await sharedLibraries(innerSh)];
    names = alsoRead(names, runtimeNames(shFiles, store, "the sandbox's sh"));
  }
  // The host's bash, which the prologue runs with the plugin's environment where the host holds
  // a descriptor above 9 it inherited (review 121): SHELLOPTS, PS4, BASH_ENV run code in it.
  const bash = hostBash();
  if (!bash) return names;
  const bashFiles = [bash, ...await sharedLibraries(bash)];
  return alsoRead(names, runtimeNames(bashFiles, store, "the host's bash"));
}

/** Whether any env grant was asked for, so the runtime's own names must be known. */
function envRequested(permissions: LaunchOptions["permissions"]): boolean {
  const env = permissions?.env;
  return Array.isArray(env) ? env.length > 0 : env !== undefined && Object.keys(env).length > 0;
}

/**
 * The host's permissions, each kind's value copied once: what decides which checks run (whether
 * there is a write or an env grant) and what is checked and granted are then the same values,
 * whatever getter or Proxy the host passed (as `readOnce` does for a start's own options).
 */
function permissionsOnce(given: LaunchOptions["permissions"]): LaunchOptions["permissions"] {
  if (typeof given !== "object" || given === null) return given; // refused by resolveGrants
  let copy: Record<string, unknown>;
  try {
    copy = { ...given }; // not Object.assign: an own "__proto__" would set the copy's prototype
    for (const [kind, value] of Object.entries(copy)) {
      if (Array.isArray(value)) copy[kind] = [...value];
      else if (typeof value === "object" && value !== null) copy[kind] = { ...value };
    }
  } catch (error) {
    throw readingThrew(`Cannot start plugin: reading its "permissions"`, error);
  }
  return copy as LaunchOptions["permissions"];
}

/** Whether the plugin is a Deno module or a command, and the isolation that follows. */
async function kindOf(
  plugin: { name: string; root: string; snapshot: Snapshot; cache: string; deno: string },
  options: LaunchOptions,
  tools: HostTools,
  notes: string[],
): Promise<{ isolation: IsolationLayer; support: LayerSupport; runtime?: CommandRuntime }> {
  const { name, root, snapshot } = plugin;
  const command = commandOf(name, snapshot, root, options);
  const shown = command && neutralize(command.join(" "), 200); // the plugin's words, maybe
  const mode = options.isolation ?? "auto";
  // Landlock is asked about only where it could be chosen.
  const wanted = mode === "landlock" || (mode === "auto" && !tools.bwrap && !command);
  // The Deno layer alone needs nothing of the OS layers: no filter, no launcher, no ldd.
  const support: FoundSupport = mode === "deno" && !command ? {} : await afterProbes(
    layerSupport(plugin.deno, plugin.cache, { landlock: wanted, sh: tools.sh }),
    options.signal, // probes and files other starts share: not this start's to stop
  );
  const isolation = chooseIsolation(mode, tools, support, notes, shown);
  if (isolation === "os" && support.seccompProblem) {
    notes.push(`seccomp: ${support.seccompProblem}`);
  }
  if (!command) return { isolation, support };
  const runtime = await resolveCommand(name, command, {
    source: options.command ? "options" : "manifest",
    snapshot: snapshot.dir,
    signal: options.signal,
    sh: tools.sh,
    seccompFile: support.seccompFile,
  });
  return { isolation, support, runtime };
}

/**
 * The options of plans made to be approved (approve.ts), whose lock the
 * approval checks itself: the plan is made without it.
 */
export const approvals: WeakSet<LaunchOptions> = new WeakSet();

/**
 * Checks the options and decides everything but the launch itself. At
 * `options.signal`'s abort it rejects with the abort's reason at once: this
 * start's own helpers are killed, and what it made for itself removed;
 * probes other starts share go on without it (abort.ts).
 */
export async function prepare(module: string | URL, options: LaunchOptions): Promise<Prepared> {
  const { signal } = options;
  const { entry, root, name } = identify(module, options);
  const memory = validateNumber("memoryLimitMiB", options.memoryLimitMiB ?? 512, 32, 65536);
  const timeout = options.preflightTimeout ?? 15_000;
  const timeoutMs = validateNumber("preflightTimeout", timeout, 100, 600_000);
  const cache = await openCache(options);
  // The Deno binary's and the tools' probes are made once per host process, for every start.
  const deno = await afterProbes(resolveDeno(hostSearch(options.deno)), signal);
  // Isolation "deno" runs no OS layer: no bubblewrap probe (a Deno start of its own).
  const tools = await afterProbes(detectTools(deno.path, options.isolation !== "deno"), signal);
  prefetchControllers(tools.sh);
  const limits = snapshotLimitsOf(options.snapshotLimits);
  const snapshot = await takeSnapshot(root, entry, {
    plugin: name,
    cacheDir: cache,
    limits,
    timeoutMs,
    signal,
    cacheBytes: cacheBytesOf(options.snapshotCacheBytes),
  });
  try {
    return await prepareFrom(
      snapshot,
      { name, root, memory, timeoutMs, cache, deno, tools },
      options,
    );
  } catch (error) {
    releaseSnapshot(snapshot); // no plan holds it
    throw error;
  }
}

/** {@linkcode prepare}'s work once the snapshot is taken (and leased). */
async function prepareFrom(
  snapshot: Snapshot,
  taken: Pick<Prepared, "name" | "root" | "memory" | "timeoutMs" | "cache" | "deno" | "tools">,
  options: LaunchOptions,
): Promise<Prepared> {
  const { name, root, memory, timeoutMs, cache, deno, tools } = taken;
  const { signal } = options;
  const notes: string[] = [];
  const { isolation, support, runtime } = await kindOf(
    { name, root, snapshot, cache, deno: deno.path },
    options,
    tools,
    notes,
  );
  const hostIsRoot = runsAsRoot(cache);
  // Only a write grant is judged against the code roots, and finding them reads every PATH
  // folder and follows its links (7 to 25 ms here, the first time in a process): not otherwise.
  // Read once (review 125): a write grant read first as none skipped the code roots, then read
  // again as a folder of code, it was granted; an env grant so skipped the runtime's names.
  const permissions = permissionsOnce(options.permissions);
  const writes = (permissions as { write?: unknown } | undefined)?.write;
  let grants = resolveGrants(permissions, {
    unsafe: options.unsafe,
    codeRoots: Array.isArray(writes) && writes.length > 0
      ? [
        ...codeRoots(root, cache, deno.path),
        ...programFolders([tools.bwrap, tools.prlimit, tools.setpriv, tools.sh]),
        ...(runtime ? runtimeRoots(runtime) : []),
      ]
      : [],
    // Who writes a folder: a plugin is its name and its folder (two folders may share a name).
    plugin: `${name}\0${root}`,
    codeUnknown: mainModuleUnknown(),
    hostEnv: (key) => Deno.env.get(key),
    // The runtime's names matter only to env grants: no library lookup without one.
    runtimeNames: envRequested(permissions)
      ? await afterProbes(
        namesOf(deno, runtime, cache, isolation === "os" ? tools.innerSh : undefined),
        signal, // ldd's answers are cached for every start
      )
      : undefined,
    hostIsRoot,
  });
  const policy = options.manifest ?? "refuse";
  const review = applyManifest(name, snapshot.dir, grants, policy, notes, root);
  if (policy === "narrow") grants = narrowGrants(grants, review.uncovered);
  if (runtime) refuseDenoOnlyGrants(name, grants);
  refuseLinkFollowing({
    kind: runtime ? "command" : "deno",
    isolation,
    grants,
    owner: `${name}\0${root}`,
  });
  if (isolation === "landlock") refuseNativeNetUnderLandlock(options.isolation ?? "auto", grants);
  // A lookup cannot be cancelled; it holds nothing of this start's, so the start stops waiting.
  await unlessAborted(refusePrivateNames(grants, options.unsafe, signal), signal);
  if (runtime && options.audit) {
    throw new TypeError(
      `Cannot start plugin "${name}" with audit: it runs a command, not Deno, so it makes no ` +
        `Deno permission checks to record`,
    );
  }
  // Without a lock too: the key seals the approvals of this host's locked starts (review 92). An
  // approval's lock is judged by the approval (approve.ts), as a locked start's is below.
  if (!options.lock && !approvals.has(options)) refuseKeyReaders(grants, cache, "without a lock");
  if (options.lock) {
    const subject = { plugin: name, root, hash: snapshot.hash, manifest: review.manifest };
    const lock = { ...options.lock, signal };
    notes.push(...await checkLock({ ...subject, grants, cacheDir: cache, isolation }, lock));
  }
  // A command plugin's Deno dir goes unused: only a Deno plugin's may need its own.
  const ownBecause = runtime ? undefined : writesDenoDir(grants, isolation, hostIsRoot, tools);
  const { ownDenoDir, home, notes: dirNotes } = await pluginDirs(cache, root, name, {
    ownBecause,
    sh: tools.sh,
    signal,
  });
  notes.push(...dirNotes);
  // A command plugin runs no Deno: it has none (made and checked at every start, it was unused).
  let denoDir = "";
  try {
    if (!runtime) {
      denoDir = await denoDirFor(cache, deno, { sh: tools.sh, own: ownDenoDir, notes, signal });
    }
    signal?.throwIfAborted(); // stopped while its dir was seeded: the dir is released below
  } catch (error) {
    if (ownDenoDir) releaseDenoDir(ownDenoDir);
    throw error;
  }
  notes.push(...(runtime?.notes ?? []));
  return {
    ...{ name, root, memory, timeoutMs, cache, deno, tools, isolation, notes, grants, review },
    ...{ snapshot, denoDir, ownDenoDir: ownDenoDir !== undefined, home, runtime },
    ...{ audit: options.audit, hostIsRoot },
    ...{ support, cpuLimits: options.cpu },
    privateNetwork: options.unsafe?.privateNetwork === true,
    lockQueries: options.unsafe?.lockQueries === true,
    signal,
  };
}

/**
 * Why a Deno plugin may write what the read-only seed's modes forbid Deno,
 * so it needs a Deno dir of its own; undefined when it may not. A program
 * or native code of its own may write anything its user may (a run, ffi or
 * all grant), and a root host's plugin under the Deno layer without
 * setpriv keeps the capabilities that override modes.
 */
function writesDenoDir(
  grants: ResolvedGrants,
  isolation: IsolationLayer,
  hostIsRoot: boolean,
  tools: HostTools,
): string | undefined {
  if (grants.all || grants.run.length > 0 || grants.ffi.length > 0) {
    return "a run, ffi or all grant lets it write there freely";
  }
  if (isolation === "deno" && hostIsRoot && !tools.setpriv) {
    return "without setpriv it keeps a root host's capabilities, which override file modes";
  }
  return undefined;
}

/**
 * The plugin's Deno dir: its own, given a writable copy of the SDK's code
 * cache, or else the seed itself, read-only (an empty read-only one when
 * the seed could not be built). A command plugin's is never used. The SDK's
 * files, the seed and the empty dir are made once for every start, and a
 * host's `dispose()` leaves none of them writing the cache: at `signal`'s
 * abort this start waits for the SDK's files and the empty dir (short
 * writes, within a grace: abort.ts `afterWrites`), and stops waiting for
 * the seed (a Deno run) at once while another start waits for it, else
 * kills it and settles once it has ended.
 */
async function denoDirFor(
  cache: string,
  deno: DenoBinary,
  { sh, own, notes, signal }: {
    sh: string | undefined;
    own: string | undefined;
    notes: string[];
    signal: AbortSignal | undefined;
  },
): Promise<string> {
  const sdk = await afterWrites(ensureSdk(cache), signal);
  const seed = await sdkSeed(sdk, deno, cache, sh, signal);
  if (own) {
    await seedOwnDenoDir(seed, own);
    return own;
  }
  if (seed) return seed;
  notes.push("deno dir: without the SDK's code cache, which could not be built (a slower start)");
  return await afterWrites(emptyDenoDir(cache, sh), signal);
}

/**
 * Folders an interpreter is loaded from: no write grant may cover them. Canonical, as a write
 * grant is: a probe's folders are its word, spelled as Python spells them (its prefix through a
 * version manager's alias link, `~/.pyenv/versions/3.11` to `3.11.7`, which Python does not
 * resolve), and a grant of the folder's real path overlapped no spelling (review 125).
 */
export function runtimeRoots(runtime: CommandRuntime): string[] {
  const folders = [
    ...[...runtime.programs, ...(runtime.claimed ?? [])].map((p) => dirname(p)),
    ...runtime.runtime,
  ];
  return [...new Set(folders.map((folder) => trimSeparator(canonicalLoose(folder))))];
}
