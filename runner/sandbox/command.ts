/**
 * Command plugins: a plugin in another language names the command that runs
 * it (`["python3", "main.py"]`) instead of a Deno module. There are no Deno
 * flags to hold such a process, so it runs only under the OS layer, with the
 * program and what it loads mounted read-only and nothing else of the host.
 * @module
 */

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { osReason } from "./claim_file.ts";
import { rethrowHostPermission, runCaptured } from "./exec.ts";
import { closeCgroups, type CpuPlan, makeCgroups, planCpu } from "./cpu_limits.ts";
import { libraryFolders } from "./locate.ts";
import { onHostPath } from "./host_path.ts";
import { isWithin } from "./paths.ts";
import { prologue } from "./prologue.ts";
import { neutralize } from "../wire/mod.ts";

/** A program name for a message: it may come from the plugin's plugbox.json. */
const shown = (text: string): string => neutralize(text, 200);

/** A command plugin's program, found and looked at on the host. */
export interface CommandRuntime {
  /** What runs inside the sandbox: the program's real path, then the arguments as given. */
  argv: string[];
  /** Programs whose shared libraries are mounted (host programs only: ldd runs on them). */
  programs: string[];
  /**
   * An interpreter known only by a sandboxed probe's word (a version manager's, behind a shim), and
   * the libpython beside its library: read for the names they mention, never given to ldd. They
   * are in `runtime`, with the system's library folders.
   */
  claimed?: string[];
  /** Further paths mounted read-only: an interpreter's standard library. */
  runtime: string[];
  /** Folders under those hidden by an empty tmpfs: an interpreter's site-packages. */
  hidden: string[];
  /** What was found, for the plan's notes. */
  notes: string[];
}

/** Where a command came from: the host's options are trusted, a plugin's `plugbox.json` is not. */
export type CommandSource = "options" | "manifest";

/** What a host program's probe needs: the start's abort, and the host's sh and seccomp filter. */
export interface ProbeOptions {
  /** Kills this start's own probe at its abort. */
  signal?: AbortSignal;
  /** The host's sh, which opens the filter for bubblewrap (the prologue's). */
  sh?: string;
  /** The OS layer's seccomp filter (`layerSupport`), which the Python probe runs under. */
  seccompFile?: string;
}

function refuse(plugin: string, message: string): never {
  throw new TypeError(`Cannot start plugin "${plugin}": ${message}`);
}

/** Validates the shape of a command from either source. */
export function checkCommand(plugin: string, command: unknown, source: CommandSource): string[] {
  const where = source === "options" ? `the "command" option` : `"command" in plugbox.json`;
  // Copied first, and the copy checked and kept (review 145): `every` skips an array's holes, so
  // `[, "x"]` passed, and failed deep inside as "Cannot read properties of undefined".
  const parts: unknown[] = Array.isArray(command) && command.length <= 64
    ? Array.from(command)
    : [];
  const ok = parts.length >= 1 &&
    parts.every((part) =>
      typeof part === "string" && part.length >= 1 && part.length <= 4096 && !part.includes("\0")
    );
  if (!ok) {
    refuse(plugin, `${where} must be a list of 1 to 64 non-empty strings, program first`);
  }
  return parts as string[];
}

// Asked of a Python interpreter on the host: its real executable and where its library lives.
const PYTHON_PROBE = `import json, os, sys, sysconfig
p = sysconfig.get_paths()
print(json.dumps({"executable": os.path.realpath(sys.executable), "stdlib": p["stdlib"],
  "platstdlib": p["platstdlib"], "purelib": p["purelib"], "platlib": p["platlib"]}))`;

interface PythonPaths {
  executable: string;
  stdlib: string;
  platstdlib: string;
  purelib: string;
  platlib: string;
}

/** The probe's memory cap, per process (RLIMIT_DATA) and for all of them together: the plugins' default. */
const PROBE_DATA_BYTES = 512 * 1024 * 1024;

/** The probe's processes and threads together: a shim runs a few programs in turn, not a tree. */
const PROBE_TASKS = 64;

/**
 * Cgroups for the probe's processes together, where the host may make them (as a plugin's): one
 * core, {@linkcode PROBE_DATA_BYTES} of memory and {@linkcode PROBE_TASKS} tasks. Each process
 * alone was capped (review 118), but a shim that forked held that much per child, and as many
 * children as the host's own limits allowed.
 */
async function probeCgroups(sh: string): Promise<CpuPlan> {
  const plan = await planCpu(
    { share: 1 },
    `python-probe-${crypto.randomUUID().slice(0, 8)}`,
    [],
    sh,
  );
  if (!plan.cgroup) return plan;
  return {
    ...plan,
    cgroup: { ...plan.cgroup, memoryBytes: PROBE_DATA_BYTES, pidsMax: PROBE_TASKS },
  };
}

/**
 * Asks a host Python for its real interpreter (through shims such as pyenv's) and library,
 * inside bubblewrap: the whole file system read-only, every namespace its own, no network, the
 * host's environment but for `PATH`, `HOME` and pyenv's own variables left out. A shim runs code
 * from places no grant knows as code (`~/.pyenv/libexec`, its hooks, `versions/…/lib`), which a
 * Deno plugin may be granted to write; run on the host, what it left there ran as the host at the
 * next Python plugin's start (review 113). Without bubblewrap no command plugin runs, and none is
 * asked.
 */
async function probePython(
  plugin: string,
  found: string,
  options: ProbeOptions,
): Promise<CommandRuntime> {
  const { signal, sh, seccompFile } = options;
  const bwrap = onHostPath("bwrap");
  if (!bwrap) return { argv: [found], programs: [found], runtime: [], hidden: [], notes: [] };
  // Under the plugin's own seccomp filter: all of / is mounted here, and a socket on a read-only
  // mount still connects (the system bus, systemd's own, a container daemon's), its peer the
  // host's uid (root's on a root host, which those obey); and the session keyring is the host's,
  // to read and add to. Without the filter nothing is asked (review 117).
  if (!sh || !seccompFile) {
    refuse(
      plugin,
      `the host's "${found}" is asked where its interpreter is only under the seccomp filter, which needs sh on PATH and Linux on x86_64 or aarch64`,
    );
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (name === "PATH" || name === "HOME" || name.startsWith("PYENV_")) env[name] = value;
  }
  // From "/", so a .python-version file in a plugin folder cannot choose the interpreter.
  // For a root host the probe is root too: no capability (it remounted / read-write), and /proc
  // read-only (root's uid alone writes /proc/sys, core_pattern among it: review 115).
  const sandbox = "--ro-bind / / --dev /dev --proc /proc --remount-ro /proc".split(" ");
  const alone = "--unshare-all --cap-drop ALL --die-with-parent --new-session --chdir /".split(" ");
  // A shim's code has the plugin's memory cap per process and a CPU time past the deadline: it
  // took 4 GiB in 6 s with neither (review 118).
  const limits = { dataLimitBytes: PROBE_DATA_BYTES, cpuSeconds: 16 };
  const cpu = await probeCgroups(sh);
  const [shell, ...opens] = prologue(sh, { seccompFile, limits, cgroup: cpu.cgroup });
  makeCgroups(cpu);
  const result = await runCaptured(shell, [
    ...opens,
    bwrap,
    ...sandbox,
    ...alone,
    "--seccomp",
    "3",
    "--",
    found,
    "-I",
    "-S",
    "-c",
    PYTHON_PROBE,
  ], {
    timeoutMs: 15_000,
    cwd: "/",
    env,
    maxStdoutBytes: 64 * 1024,
    // Killed past it, not read on for its 15 s: a shim's flood of stderr took the host's thread 4.6 s
    // of CPU at each Python plugin's start (review 119).
    maxStderrBytes: 64 * 1024,
    signal, // this start's own probe: killed at its abort
  }).catch((error) => {
    signal?.throwIfAborted(); // the start's abort, not a Python that said nothing
    rethrowHostPermission(error);
    return { success: false, stdout: "", stderr: String(error) };
  }).finally(() => closeCgroups(cpu).catch(() => undefined));
  let paths: PythonPaths | undefined;
  try {
    paths = result.success ? JSON.parse(result.stdout) : undefined;
  } catch {
    paths = undefined;
  }
  // What the probe says is a sandboxed program's claim: each library folder must hold Python's own
  // os.py and its interpreter be a file, or a lie would mount any folder into the plugin's
  // sandbox (the platform library too, where it differs: it was mounted unchecked, review 115).
  if (
    !paths || typeof paths.executable !== "string" || !isAbsolute(paths.executable) ||
    !isFile(paths.executable) || !isLibrary(paths.stdlib) || !isLibrary(paths.platstdlib)
  ) {
    refuse(
      plugin,
      `the host's "${found}" did not say where its interpreter is: ${
        neutralize(result.stderr, 500)
      }`,
    );
  }
  const libraries = [...new Set([paths.stdlib, paths.platstdlib])];
  const hidden = [...new Set([paths.purelib, paths.platlib])]
    .filter((p) => libraries.some((lib) => isWithin(p, lib)) && exists(p));
  // ldd runs the loader as the host on what it is given, and the loader runs an audit module the
  // file names (reviews 29, 30): only the PATH's own program is given to it. An interpreter the
  // probe named elsewhere (a shim's, in a folder no grant knows as code) is the probe's word: a
  // plugin that wrote it, or the code that answers, had its module run as the host (review 119).
  const own = paths.executable === Deno.realPathSync(found);
  const claimed = own ? [] : [paths.executable, ...libpython(libraries)];
  return {
    argv: [paths.executable],
    programs: own ? [paths.executable] : [],
    claimed,
    runtime: [...claimed, ...(own ? [] : libraryFolders()), ...libraries.filter(exists)],
    hidden,
    notes: [
      `"${found}" runs ${paths.executable}, with its standard library ${libraries.join(", ")}` +
      (hidden.length ? ` (site-packages hidden: ${hidden.join(", ")})` : ""),
    ],
  };
}

/**
 * The shared libpython files in the folder above each of an interpreter's library folders, where a
 * build with a shared library keeps it (`~/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0`).
 */
function libpython(libraries: string[]): string[] {
  const found: string[] = [];
  for (const folder of new Set(libraries.map((lib) => dirname(lib)))) {
    let read = 0;
    try {
      for (const entry of Deno.readDirSync(folder)) {
        if (++read > 4_096) break;
        if (/^libpython[0-9.]*m?\.so/.test(entry.name)) found.push(join(folder, entry.name));
      }
    } catch (error) {
      rethrowHostPermission(error); // none to mount
    }
  }
  return found;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    rethrowHostPermission(error);
    return false;
  }
}

/** A folder a probe names as Python's library: absolute, holding Python's own os.py. */
function isLibrary(path: unknown): path is string {
  return typeof path === "string" && isAbsolute(path) && isFile(join(path, "os.py"));
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    rethrowHostPermission(error);
    return false;
  }
}

/**
 * The first bytes of `path`, or `undefined` when it is no regular file. Opened
 * without blocking and judged by what was opened: a FIFO held the host's
 * thread in a synchronous open for good (review 81), and a check by path
 * before the open could be answered by a file swapped for a FIFO after it.
 */
function readHead(path: string): string | undefined {
  // O_NOCTTY: a terminal named as the program would become a session leader's controlling
  // terminal, its hang-up then the host's SIGHUP.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buffer = new Uint8Array(128);
    const n = readSync(fd, buffer);
    return new TextDecoder().decode(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** A program on the host: found on PATH by name, or an absolute path from the host's options. */
async function hostProgram(
  plugin: string,
  program: string,
  options: ProbeOptions,
): Promise<CommandRuntime> {
  const found = isAbsolute(program) ? program : onHostPath(program);
  if (!found || !exists(found)) {
    refuse(
      plugin,
      `program "${shown(program)}" was not found ${isAbsolute(program) ? "" : "on the host's PATH"}`
        .trim(),
    );
  }
  if (
    /^python[0-9.]*$/.test(basename(program)) ||
    /^python[0-9.]*$/.test(basename(Deno.realPathSync(found)))
  ) {
    return await probePython(plugin, found, options);
  }
  const real = Deno.realPathSync(found);
  let head: string | undefined;
  try {
    head = readHead(real);
  } catch (error) {
    rethrowHostPermission(error);
    refuse(plugin, `program "${shown(program)}" cannot be read: ${osReason(error)}`);
  }
  if (head === undefined) refuse(plugin, `program "${shown(program)}" is not a regular file`);
  if (head.startsWith("#!")) {
    refuse(
      plugin,
      `program "${shown(program)}" is a script (${
        shown(head.split("\n")[0])
      }); name its interpreter as the program instead`,
    );
  }
  return { argv: [real], programs: [real], runtime: [], hidden: [], notes: [] };
}

/**
 * Finds what a command plugin runs. A program given by name is looked up on
 * the host's PATH; one given as a relative path (`./bin/plugin`) lies in the
 * plugin's folder and runs from its snapshot with nothing else mounted (build
 * it static); an absolute path is taken only from the host's options. A
 * host Python is asked for its real interpreter and standard library (a
 * probe killed at `signal`'s abort, which this then rejects with).
 *
 * @throws {TypeError} naming the program and what is wrong with it.
 */
export async function resolveCommand(
  plugin: string,
  command: readonly string[],
  options: { source: CommandSource; snapshot: string } & ProbeOptions,
): Promise<CommandRuntime> {
  const [program, ...args] = command;
  if (!program.includes("/")) {
    const found = await hostProgram(plugin, program, options);
    return { ...found, argv: [...found.argv, ...args] };
  }
  if (isAbsolute(program)) {
    if (options.source === "manifest") {
      refuse(
        plugin,
        `plugbox.json names its program by an absolute path ("${
          shown(program)
        }"); a plugin may name a program on the host's PATH by name, or one inside its own folder by a relative path (an absolute program is for the host's "command" option)`,
      );
    }
    const found = await hostProgram(plugin, program, options);
    return { ...found, argv: [...found.argv, ...args] };
  }
  const inside = normalize(join(options.snapshot, program));
  if (!isWithin(inside, options.snapshot)) {
    refuse(plugin, `program "${shown(program)}" leaves the plugin's folder`);
  }
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.lstatSync(inside);
  } catch {
    info = undefined;
  }
  if (!info?.isFile || !((info.mode ?? 0) & 0o100)) {
    refuse(plugin, `program "${shown(program)}" is not an executable file in the plugin's folder`);
  }
  // Never run ldd on the plugin's own program outside the sandbox: it gets no host libraries.
  return {
    argv: [inside, ...args],
    programs: [],
    runtime: [],
    hidden: [],
    notes: [
      `"${shown(program)}" runs from the plugin's folder with no host libraries (build it static)`,
    ],
  };
}
