/**
 * Runs a short helper command (deno bundle, deno info, ldd, a bwrap probe)
 * under a deadline and an output cap, so no helper can hang or flood the host.
 * @module
 */

import { concatBytes, keepable } from "../wire/mod.ts";
import { killTree } from "./kill_tree.ts";

/**
 * Rethrows a permission the host process itself lacks (`NotCapable`), so it
 * is never taken for "not installed" or "failed": that would silently drop
 * a sandbox layer instead of telling the person which flag is missing.
 */
export function rethrowHostPermission(error: unknown): void {
  if (error instanceof Deno.errors.NotCapable) throw error;
}

/** Options for {@linkcode runCaptured}. */
export interface RunCapturedOptions {
  /** Kill the command after this many milliseconds. */
  timeoutMs: number;
  /** Environment; when given, nothing else is inherited. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /**
   * Largest stdout kept, in bytes; beyond it the command is killed.
   * @default {64 MiB}
   */
  maxStdoutBytes?: number;
  /**
   * Largest stderr read, in bytes; beyond it the command is killed. Without it, stderr past
   * 1 MiB is read on and dropped, so a chatty helper is never blocked on a full pipe.
   */
  maxStderrBytes?: number;
  /**
   * Aborting SIGKILLs the command and rejects with `signal.reason` once it
   * has exited: a start stopped while it is planned leaves no helper of its
   * own behind. Only for a start's own helpers, never for a probe other
   * starts wait on too (see abort.ts).
   */
  signal?: AbortSignal;
}

/** What a helper command did. */
export interface Captured {
  success: boolean;
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  /** The last 4 KiB of stderr. */
  stderr: string;
  timedOut: boolean;
  /** True when stdout passed `maxStdoutBytes` (or stderr `maxStderrBytes`) and the command was killed. */
  overflowed: boolean;
}

/** How long a helper killed before it exited is read after its exit: its tree's death. */
const KILLED_GRACE_MS = 2_000;

async function drain(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  onOverflow: () => void,
  stop: AbortSignal,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  const reader = stream.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  stop.addEventListener("abort", cancel, { once: true });
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    if (over) continue;
    size += chunk.length;
    if (size > limit) {
      over = true;
      onOverflow();
      continue;
    }
    chunks.push(keepable(chunk)); // a helper's dripped output keeps its bytes, not 64 KiB each
  }
  stop.removeEventListener("abort", cancel);
  return concatBytes(chunks); // only chunks within the limit were kept
}

/**
 * Runs `command` with piped output, a deadline and an output cap. Never
 * throws for exit codes; rejects with `signal.reason` when `signal` aborts.
 */
export async function runCaptured(
  command: string,
  args: string[],
  options: RunCapturedOptions,
): Promise<Captured> {
  const { signal } = options;
  signal?.throwIfAborted();
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: options.cwd,
    ...(options.env ? { env: options.env, clearEnv: true } : {}),
  }).spawn();
  let timedOut = false;
  let overflowed = false;
  // The whole tree, bubblewrap stopped first: killed before it armed its sandbox's death signal,
  // it left the sandbox's `deno info` running on a FIFO, holding the output waited for here (a
  // start stopped in its check's first milliseconds, seen once in a full run).
  // Once it has exited, its pid may be another process's: what still holds its output (a
  // descendant in a session of its own) is out of its tree, and is no longer read or waited for.
  let exited = false;
  let killed = false;
  let settled = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const reading = new AbortController();
  const kill = () => {
    killed = true;
    if (exited) reading.abort();
    else void killTree(child.pid, true).catch(() => {});
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  signal?.addEventListener("abort", kill, { once: true });
  try {
    const [stdout, stderr, status] = await Promise.all([
      drain(child.stdout, options.maxStdoutBytes ?? 64 * 1024 * 1024, () => {
        overflowed = true;
        kill();
      }, reading.signal),
      drain(child.stderr, options.maxStderrBytes ?? 1024 * 1024, () => {
        if (options.maxStderrBytes === undefined) return;
        overflowed = true;
        kill();
      }, reading.signal),
      child.status.then((status) => {
        exited = true;
        // Killed before it exited: the tree the kill found dies within milliseconds, its pipes
        // closing with it, and the reads end then (a start must not settle while its graph check's
        // sandbox still runs). What holds the output past a grace was out of the tree when the kill
        // looked (the kill raced the exit), and is not waited for either.
        if (killed && !settled) grace = setTimeout(() => reading.abort(), KILLED_GRACE_MS);
        return status;
      }),
    ]);
    // Killed for the abort: its output is no answer, and the caller asked for the reason.
    signal?.throwIfAborted();
    const decoder = new TextDecoder();
    const err = decoder.decode(stderr);
    return {
      success: status.success && !timedOut && !overflowed,
      code: status.code,
      signal: status.signal,
      stdout: decoder.decode(stdout),
      stderr: err.length > 4096 ? err.slice(-4096) : err,
      timedOut,
      overflowed,
    };
  } finally {
    settled = true; // a read that failed first: no grace starts after the call
    clearTimeout(timer);
    clearTimeout(grace);
    signal?.removeEventListener("abort", kill);
  }
}

/**
 * Runs `script` with `shell -c` (10 s deadline, `PATH` only), `$0` set to
 * "plugbox" and `args` as `$1`…; undefined if it could not be run at all.
 * Rethrows a permission the host lacks (see {@linkcode rethrowHostPermission}).
 */
export async function runScript(
  shell: string,
  script: string,
  args: string[] = [],
): Promise<Captured | undefined> {
  return await runCaptured(shell, ["-c", script, "plugbox", ...args], {
    timeoutMs: 10_000,
    env: { PATH: "/usr/bin:/bin" },
  }).catch((error) => {
    rethrowHostPermission(error);
    return undefined;
  });
}
