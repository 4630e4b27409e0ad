/**
 * plugbox's own helper scripts (the launcher and the egress relay) as the
 * layers run them: written once into a runner-owned cache folder, by a hash
 * of their text, read-only; and the exact `deno run` command lines that run
 * them, with the narrowest permissions each needs.
 * @module
 */

import { join } from "node:path";
import { publishFiles } from "./publish.ts";
import { allowFlags, pieces, specArgs } from "./command_line.ts";
import { rethrowHostPermission, runCaptured } from "./exec.ts";
import { relayMain } from "./egress_relay.ts";
import { sharedLibraries } from "./isolation.ts";
import { launcherMain, type LauncherSpec } from "./launcher_script.ts";
import type { SeccompArch } from "./seccomp.ts";

/** The written scripts. */
export interface LauncherFiles {
  /** Their folder (mounted read-only under bubblewrap). */
  dir: string;
  launcher: string;
  relay: string;
}

/** The script files, by name: each function's own text, called once. */
function scripts(): Record<string, string> {
  return {
    "launcher.js": `// plugbox launcher (generated)\n(${String(launcherMain)})();\n`,
    "relay.js": `// plugbox egress relay (generated)\n(${String(relayMain)})();\n`,
  };
}

const memo = new Map<string, Promise<LauncherFiles>>();

/** Writes the scripts into `<cacheDir>/launcher/<hash>/` once, read-only; returns their paths. */
export function ensureLauncher(cacheDir: string): Promise<LauncherFiles> {
  let found = memo.get(cacheDir);
  if (!found) {
    found = write(cacheDir);
    found.catch(() => memo.delete(cacheDir));
    memo.set(cacheDir, found);
  }
  return found;
}

async function write(cacheDir: string): Promise<LauncherFiles> {
  const dir = await publishFiles(join(cacheDir, "launcher"), scripts());
  return { dir, launcher: join(dir, "launcher.js"), relay: join(dir, "relay.js") };
}

/** Flags every helper script runs with: no config, lock, remote code, npm or prompt. */
const HARDENED = ["run", "--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt"];

/**
 * The launcher's V8, lean: it sets the plugin's data limit on itself just
 * before the exec, and Deno's default holds about 541 MiB of writable memory
 * (a 510 MiB code range for compiled code, 8 MiB stacks of V8's worker
 * threads), more than a command plugin's default limit of 512 MiB: a page
 * asked for after it (a collection's, by any thread) was refused, and the
 * start failed (review 154: 11 in 600 starts under load). Interpreted and
 * without worker threads it holds about 15 MiB, half the least limit plugbox
 * sets (32 MiB), and no thread of V8's runs beside the exec.
 */
const LEAN = "--v8-flags=--jitless,--single-threaded";

/**
 * The relay's V8: without worker threads. Every task of the sandbox counts against the plugin's
 * own cap (its pids cgroup or RLIMIT_NPROC, 64 by default since review 164), and V8 starts one
 * worker thread per CPU the relay may run on (up to 16), which the plugin then lacked: 2 of the
 * relay's 6 tasks here, 16 of about 20 on a machine of 16 CPUs or more (review 166). The relay
 * copies bytes through fixed buffers and makes almost no garbage: its collections on its one
 * thread cost it nothing measurable (256 MiB carried as fast, within the noise).
 */
const RELAY_V8 = "--v8-flags=--single-threaded";

/** System call numbers the launcher needs, per architecture. */
const NUMBERS: Record<SeccompArch, LauncherSpec["nr"]> = {
  x86_64: { prctl: 157, seccomp: 317, capset: 126, prlimit64: 302, fcntl: 72 },
  aarch64: { prctl: 167, seccomp: 277, capset: 91, prlimit64: 261, fcntl: 25 },
};

/** The C library Deno loads (the launcher calls it through FFI). */
export async function libcOf(deno: string): Promise<string | undefined> {
  return (await sharedLibraries(deno)).find((path) => /\/libc\.so(\.\d+)*$/.test(path));
}

/**
 * The command line that runs the launcher: Deno with FFI for libc only,
 * the environment (to pass it on) and, when it starts the relay, Deno.
 */
export function launcherArgs(
  deno: string,
  files: LauncherFiles,
  spec: Omit<LauncherSpec, "nr">,
  arch: SeccompArch,
): string[] {
  const full: LauncherSpec = { ...spec, nr: NUMBERS[arch] };
  return [
    deno,
    ...HARDENED,
    "--no-code-cache",
    LEAN,
    "--allow-ffi", // FFI pointers need it unscoped; the script opens only `libc`
    "--allow-env",
    ...(spec.relay ? [`--allow-run=${spec.relay.program}`] : []),
    files.launcher,
    ...specArgs(full),
  ];
}

/** The command line that runs the relay: listening on its ports, and the proxy's socket. */
export function relayArgs(files: LauncherFiles, spec: import("./egress_relay.ts").RelaySpec) {
  const listens = [spec.proxy, ...spec.forwards].map((l) =>
    l.hostname.includes(":") ? `[${l.hostname}]:${l.port}` : `${l.hostname}:${l.port}`
  );
  return [
    ...HARDENED,
    "--no-code-cache",
    RELAY_V8,
    ...allowFlags("net", [...listens, `unix:${spec.socket}`]),
    `--allow-read=${spec.socket}`,
    `--allow-write=${spec.socket}`,
    files.relay,
    // In pieces, each within an argument's limit: the relay joins them all.
    ...pieces(JSON.stringify(spec)),
  ];
}

const abis = new Map<string, Promise<number>>();

/**
 * The Landlock ABI this kernel offers, 0 when none, asked through the
 * launcher itself (once per host process and Deno binary).
 */
export function landlockAbi(
  deno: string,
  cacheDir: string,
  arch: SeccompArch,
  sh: string,
): Promise<number> {
  const key = `${deno}\0${cacheDir}`;
  let found = abis.get(key);
  if (!found) {
    found = (async () => {
      const libc = await libcOf(deno);
      if (!libc) return 0;
      const files = await ensureLauncher(cacheDir);
      const spec = { mode: "probe" as const, libc, keepEnv: [] };
      // Through sh, as a plugin's launcher starts: a host's --allow-run names `deno`, not its real path.
      const args = ["-c", 'exec "$@"', "plugbox", ...launcherArgs(deno, files, spec, arch)];
      const probe = await runCaptured(sh, args, {
        timeoutMs: 15_000,
        env: {
          NO_COLOR: "1",
          DENO_NO_UPDATE_CHECK: "1",
          DENO_DIR: join(cacheDir, "launcher", "deno_dir"),
        },
      }).catch((error) => {
        rethrowHostPermission(error);
        return undefined;
      });
      const abi = probe?.success ? JSON.parse(probe.stdout).landlockAbi : 0;
      return Number.isInteger(abi) ? abi : 0;
    })();
    found.catch(() => abis.delete(key));
    abis.set(key, found);
  }
  return found;
}
