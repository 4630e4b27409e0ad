/**
 * The first step of a plugin's command line, when a layer needs one: a
 * POSIX shell (the host's `sh`) that joins the plugin's CPU cgroup, opens
 * the seccomp filter for bubblewrap on file descriptor 3, and gives
 * plugbox's launcher a Deno dir of its own, then `exec`s the rest (so the
 * process keeps its pid). Its arguments are fixed positions, never
 * interpolated into the script.
 * @module
 */

// $1: cgroup.procs to join; $2: the seccomp filter for fd 3; $3: the launcher's DENO_DIR.
const SCRIPT = [
  `if [ -n "$1" ]; then echo $$ > "$1" || { echo "plugbox: cannot join the CPU cgroup" >&2; exit 125; }; fi`,
  `if [ -n "$2" ]; then exec 3< "$2" || exit 125; fi`,
  `if [ -n "$3" ]; then export DENO_DIR="$3"; fi`,
  `shift 3`,
  `exec "$@"`,
].join("\n");

/** What the prologue does; each is optional. */
export interface PrologueOptions {
  /** The `cgroup.procs` file of the plugin's CPU cgroup. */
  cgroupProcs?: string;
  /** The seccomp filter file bubblewrap reads from fd 3 (`--seccomp 3`). */
  seccompFile?: string;
  /** The Deno dir plugbox's launcher runs with (never the plugin's own). */
  launcherDenoDir?: string;
}

/** The prologue's argv, or nothing when no step is needed. */
export function prologue(sh: string | undefined, options: PrologueOptions): string[] {
  const steps = [options.cgroupProcs, options.seccompFile, options.launcherDenoDir];
  if (steps.every((s) => s === undefined)) return [];
  if (!sh) throw new Error("plugbox needs a POSIX sh on PATH for this layer");
  return [sh, "-c", SCRIPT, "plugbox", ...steps.map((s) => s ?? "")];
}
