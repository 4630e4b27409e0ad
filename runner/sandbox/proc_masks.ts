/**
 * The files of the sandbox's `/proc` that bubblewrap covers. A root host's
 * plugin runs as uid 65534 in its user namespace, which is uid 0 to the
 * kernel: every `/proc` file that only root's uid may read (mode 0400, or a
 * view that lists root's own) opened for it, though no local user but root
 * may read them (review 143: the slab caches, every physical page's flags
 * and count and memory cgroup, the free pages by type, the kernel's vmalloc
 * areas, its timers, and the names of root's keys). They are the kernel's,
 * not the plugin's own, and none of them is anything a plugin needs.
 * @module
 */

import { runCaptured } from "./exec.ts";
import { onHostPath } from "./host_path.ts";

/** Global `/proc` files root's uid may read and other users may not (or see less of). */
export const ROOT_ONLY_PROC: readonly string[] = [
  "keys",
  "key-users",
  "slabinfo",
  "pagetypeinfo",
  "vmallocinfo",
  "timer_list",
  "kpagecount",
  "kpageflags",
  "kpagecgroup",
].map((name) => `/proc/${name}`);

let present: Promise<string[]> | undefined;

/**
 * Which of {@linkcode ROOT_ONLY_PROC} this kernel has: bubblewrap binds over
 * a file only where one is (it makes the rest, which `/proc` refuses, and
 * fails). The sandbox's `/proc` is a new mount of the same kernel's, so the
 * host's shows which. Found once per host process; a host that lacks the
 * permission to look is told so, as for every program it finds.
 */
export function procMasks(): Promise<string[]> {
  if (present) return present;
  const found = find();
  // A failure (the host lacks a permission: it says which) is not kept: asked again next time.
  found.catch(() => {
    present = undefined;
  });
  present = found;
  return found;
}

async function find(): Promise<string[]> {
  try {
    return ROOT_ONLY_PROC.filter(exists);
  } catch {
    // Deno stats /proc only with --allow-all: the host's sh looks instead.
  }
  const sh = onHostPath("sh");
  if (!sh) return []; // and without sh the OS layer runs without its filter too (noted)
  const script = 'for f do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done';
  const seen = await runCaptured(sh, ["-c", script, "sh", ...ROOT_ONLY_PROC], {
    timeoutMs: 10_000,
  });
  if (!seen.success) throw new Error(`sh could not look at /proc: ${seen.stderr.trim()}`);
  const lines = seen.stdout.split("\n");
  return ROOT_ONLY_PROC.filter((path) => lines.includes(path));
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
