/**
 * The plugin's process: spawn with a cleared environment and piped stdio,
 * a stderr ring, the exit status with plugbox's own reason, and the stop
 * ladder (close stdin, grace, SIGTERM, wait, SIGKILL).
 * @module
 */

import type { ExitStatus } from "../errors.ts";
import { readStderr, StderrRing } from "./stderr.ts";
import { explainHostPermission } from "../sandbox/mod.ts";

/** What to spawn: usually a {@linkcode LaunchPlan}'s fields. */
export interface SpawnSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/** Options for {@linkcode PluginProcess}. */
export interface PluginProcessOptions {
  /**
   * Bytes of recent stderr kept for error messages.
   * @default {65536}
   */
  stderrRingBytes?: number;
  /** Called with every stderr line, neutralised. */
  onStderrLine?: (line: string) => void;
  /** Rewrites each stderr line before it is kept or passed on (snapshot paths to the user's). */
  mapLine?: (line: string) => string;
  /**
   * The process is a wrapper that reports its child's death by signal as
   * exit code 128 + n (bubblewrap does). Then a fatal code counts as a
   * fatal signal; otherwise only a real signal does, since a plugin can
   * exit with any code it likes.
   * @default {false}
   */
  signalsAsCodes?: boolean;
}

/** The stop ladder's steps. */
export interface StopOptions {
  /** Closes the plugin's stdin (after flushing what is queued). */
  closeInput: () => Promise<void>;
  /** How long to wait for an exit after stdin closes. */
  graceMs: number;
  /** How long to wait after SIGTERM before SIGKILL. */
  termMs: number;
}

// V8's own words when the heap cap or the memory limit ends a process.
const OUT_OF_MEMORY = /out of memory|Reached heap limit|Failed to reserve virtual memory/i;
// SIGTRAP and SIGABRT: how V8 ends a process on a fatal error (bwrap reports 128 + n).
const FATAL_SIGNALS: ReadonlySet<string> = new Set(["SIGTRAP", "SIGABRT", "SIGSEGV"]);
const FATAL_CODES: ReadonlySet<number> = new Set([133, 134, 139]);

function wait(ms: number): { promise: Promise<false>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * One running plugin process.
 *
 * @example
 * ```ts ignore
 * const proc = new PluginProcess({ command: "deno", args: ["run", "x.ts"], env: {}, cwd: "/tmp" });
 * const status = await proc.stop({ closeInput: () => proc.stdin.close(), graceMs: 1000, termMs: 1000 });
 * ```
 */
export class PluginProcess {
  /** The spawned process id (a wrapper's under the OS layer). */
  readonly pid: number;
  /** The plugin's stdin. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The plugin's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Resolves once the process has exited and its stderr is read. Never rejects. */
  readonly status: Promise<ExitStatus>;
  #child: Deno.ChildProcess;
  #ring: StderrRing;
  #intent: "stopped" | "killed" | "cpu-limit" | undefined;
  #signalsAsCodes: boolean;
  #exited = false;

  /** @throws {Error} when the command cannot be spawned. */
  constructor(spec: SpawnSpec, options: PluginProcessOptions = {}) {
    this.#ring = new StderrRing(options.stderrRingBytes);
    this.#signalsAsCodes = options.signalsAsCodes ?? false;
    try {
      this.#child = new Deno.Command(spec.command, {
        args: spec.args,
        env: spec.env,
        clearEnv: true,
        cwd: spec.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (cause) {
      if (cause instanceof Deno.errors.NotCapable) throw explainHostPermission(cause);
      throw new Error(`Cannot spawn "${spec.command}": ${cause}`, { cause });
    }
    this.pid = this.#child.pid;
    this.stdin = this.#child.stdin;
    this.stdout = this.#child.stdout;
    const onLine = options.onStderrLine;
    const mapLine = options.mapLine ?? ((line: string) => line);
    const stderr = readStderr(this.#child.stderr, (raw) => {
      const line = mapLine(raw);
      this.#ring.push(line);
      onLine?.(line);
    }).catch(() => {});
    this.status = Promise.all([this.#child.status, stderr]).then(([status]) => {
      this.#exited = true;
      return this.#describe(status);
    });
  }

  #describe(status: Deno.CommandStatus): ExitStatus {
    const stderrTail = this.#ring.tail();
    const fatal = (status.signal !== null && FATAL_SIGNALS.has(status.signal)) ||
      (this.#signalsAsCodes && status.signal === null && FATAL_CODES.has(status.code));
    let reason: ExitStatus["reason"] = this.#intent ?? "exited";
    const ours = this.#intent === "killed" || this.#intent === "cpu-limit";
    if (!ours && fatal && OUT_OF_MEMORY.test(stderrTail)) {
      reason = "out-of-memory";
    }
    return {
      code: status.signal === null ? status.code : null,
      signal: status.signal,
      reason,
      stderrTail,
    };
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** The last stderr lines, for messages. */
  stderrTail(): string {
    return this.#ring.tail();
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited: nothing to signal.
    }
  }

  /** SIGKILL now; the exit is reported with reason `"killed"` (or the one given). */
  kill(reason: "killed" | "cpu-limit" = "killed"): void {
    if (this.#exited) return;
    if (this.#intent !== "cpu-limit") this.#intent = reason;
    this.#signal("SIGKILL");
  }

  async #exitWithin(ms: number): Promise<boolean> {
    const timer = wait(ms);
    try {
      return await Promise.race([this.status.then(() => true), timer.promise]);
    } finally {
      timer.cancel();
    }
  }

  /**
   * The stop ladder: close stdin and wait `graceMs`, then SIGTERM and wait
   * `termMs`, then SIGKILL. Always resolves with how the process ended.
   * Where signals are unavailable (Windows) SIGTERM is skipped.
   */
  async stop(options: StopOptions): Promise<ExitStatus> {
    if (this.#exited) return this.status;
    this.#intent ??= "stopped";
    // Closing flushes queued input first; a plugin that never reads would block it.
    options.closeInput().catch(() => {});
    if (await this.#exitWithin(options.graceMs)) return this.status;
    if (Deno.build.os !== "windows") {
      this.#signal("SIGTERM");
      if (await this.#exitWithin(options.termMs)) return this.status;
    }
    this.kill();
    return this.status;
  }
}
