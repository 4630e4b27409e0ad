/**
 * What this machine offers the OS layers, found once per host process: the
 * seccomp filter for this architecture (written to the cache for
 * bubblewrap), plugbox's launcher and the C library it calls, and, when the
 * Landlock layer could be chosen, the kernel's Landlock ABI.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { ensureLauncher, landlockAbi, libcOf } from "./launcher.ts";
import { LANDLOCK_MIN_ABI, type LayerSupport } from "./layers.ts";
import { seccompArch, seccompProgram } from "./seccomp.ts";

/** Layer support, and why the Landlock layer or the seccomp filter cannot be had. */
export interface FoundSupport extends LayerSupport {
  /** Why the Landlock layer is unavailable (only looked into when asked). */
  problem?: string;
  /** Why bubblewrap runs without the seccomp filter. */
  seccompProblem?: string;
}

async function writeFilter(cacheDir: string, bytes: Uint8Array): Promise<string> {
  const dir = join(cacheDir, "seccomp");
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${createHash("sha256").update(bytes).digest("hex").slice(0, 24)}.bpf`);
  const same = await Deno.readFile(path).then(
    (found) => found.length === bytes.length && found.every((b, i) => b === bytes[i]),
    () => false,
  );
  if (!same) {
    const temp = `${path}.${crypto.randomUUID()}`;
    await Deno.writeFile(temp, bytes, { mode: 0o444 });
    await Deno.rename(temp, path);
  }
  return path;
}

/** Finds what the OS layers can use here; asks the kernel about Landlock only when `landlock`. */
export async function layerSupport(
  deno: string,
  cacheDir: string,
  options: { landlock: boolean; sh?: string },
): Promise<FoundSupport> {
  const arch = seccompArch();
  if (!arch) {
    const why = `no seccomp filter for ${Deno.build.os}/${Deno.build.arch}`;
    return {
      seccompProblem: why,
      problem: `the Landlock layer needs Linux on x86_64 or aarch64 (${why})`,
    };
  }
  const found: FoundSupport = {
    arch,
    seccompFile: await writeFilter(cacheDir, seccompProgram(arch, { landlock: false })),
    relaySeccompFile: await writeFilter(
      cacheDir,
      seccompProgram(arch, { landlock: false, unixSockets: true }),
    ),
    nativeSeccompFile: await writeFilter(
      cacheDir,
      seccompProgram(arch, { landlock: false, nativeCode: true }),
    ),
    nativeRelaySeccompFile: await writeFilter(
      cacheDir,
      seccompProgram(arch, { landlock: false, unixSockets: true, nativeCode: true }),
    ),
    lockQuerySeccompFile: await writeFilter(
      cacheDir,
      seccompProgram(arch, { landlock: false, nativeCode: true, lockQueries: true }),
    ),
    lockQueryRelaySeccompFile: await writeFilter(
      cacheDir,
      seccompProgram(arch, {
        landlock: false,
        unixSockets: true,
        nativeCode: true,
        lockQueries: true,
      }),
    ),
    launcher: await ensureLauncher(cacheDir),
    libc: await libcOf(deno),
  };
  if (!found.libc) {
    found.problem = `the C library Deno loads was not found (ldd ${deno})`;
    return found;
  }
  if (!options.landlock) return found;
  if (!options.sh) {
    found.problem = "sh was not found on PATH (the Landlock layer starts through it)";
    return found;
  }
  found.landlockAbi = await landlockAbi(deno, cacheDir, arch, options.sh);
  if (found.landlockAbi < LANDLOCK_MIN_ABI) {
    found.problem = found.landlockAbi === 0
      ? "Landlock is not enabled in this kernel"
      : `Landlock ABI ${found.landlockAbi} is below ${LANDLOCK_MIN_ABI} (TCP port rules)`;
  }
  return found;
}
