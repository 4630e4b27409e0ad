/**
 * The plugin's process: spawn with a cleared environment and piped stdio,
 * a stderr ring, the exit status with plugbox's own reason, and the stop
 * ladder (close stdin, grace, SIGTERM, wait, SIGKILL).
 * @module
 */

import type { ExitStatus } from "../errors.ts";
import { ExitWatch, type RealExit } from "./exit_cause.ts";
import {
  descendantsOf,
  endedOrKilled,
  killSeen,
  killTree,
  killTreeNow,
  type SeenProcess,
  statFields,
} from "../sandbox/mod.ts";
import { sendEachLater } from "../sandbox/mod.ts";
import { readStderr, StderrRing } from "./stderr.ts";
import { explainHostPermission } from "../sandbox/mod.ts";
import { PluginInput } from "./plugin_input.ts";
import { EXEC_MARK, readVerdict, type StartVerdict } from "../sandbox/mod.ts";

/**
 * How plugbox's own words before a plugin's exec begin (start_verdict.ts): a plugin's line that
 * begins so gets a `\` first, as one that begins as plugbox's notes does (stderr.ts's OWN_NOTE).
 */
const OWN_WORDS = /^plugbox(?: refused |: )/;

/** What to spawn: usually a {@linkcode LaunchPlan}'s fields. */
export interface SpawnSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /**
   * The sandbox runs the plugin only after a line on its stdin (the OS
   * layer's `GO_STEP`): it is sent, before anything else, once the
   * sandbox's death signals are armed (exit_cause.ts). Needs `sandboxed`.
   */
  waitsForGo?: boolean;
  /**
   * plugbox's last step before the plugin writes `EXEC_MARK` on stderr just before the plugin's
   * exec (start_verdict.ts): a verdict before it is plugbox's ({@linkcode PluginProcess.refusal}),
   * and every line after it the plugin's. Without it, every line is the plugin's.
   */
  marksExec?: boolean;
}

/** Options for {@linkcode PluginProcess}. */
export interface PluginProcessOptions {
  /**
   * Bytes of recent stderr kept for error messages.
   * @default {65536}
   */
  stderrRingBytes?: number;
  /**
   * Called with every stderr line, neutralised; `fromPlugbox` for plugbox's
   * own notes among them (a rate drop), which a plugin's line cannot pass for.
   */
  onStderrLine?: (line: string, fromPlugbox: boolean) => void;
  /** Rewrites each stderr line before it is kept or passed on (snapshot paths to the user's). */
  mapLine?: (line: string) => string;
  /**
   * The process is bubblewrap, and the plugin runs in the PID namespace of
   * its child. Kills reach that child, which takes the namespace down
   * (kill_tree.ts); and since bubblewrap reports a death by signal as exit
   * code 128 + n, plugbox reads the plugin's real wait status from the
   * kernel (exit_cause.ts), so a signal is reported as that signal and an
   * exit code as that code. Otherwise the process leads a process group of
   * its own (spawned `detached`: setsid), and kills reach the group.
   * @default {false}
   */
  sandboxed?: boolean;
  /**
   * Whether the process is V8's (a Deno plugin), whose words on stderr
   * with a fatal signal tell an out-of-memory death. A command plugin's are
   * its own text before an abort it chose (review 114): its out of memory
   * is the memory cgroup's OOM kill only.
   * @default {true}
   */
  v8?: boolean;
  /**
   * A shell whose `kill` sends the kill's signals where Deno may not: a
   * host without all of `--allow-run` (the README's list names `sh`).
   */
  signalShell?: string;
  /**
   * How long stderr may stay open after the process exited (a descendant
   * can hold it) before it is abandoned and the exit reported, in ms.
   * @default {500}
   */
  drainMs?: number;
  /** Told at once when the process has exited, before stderr is drained. */
  onExit?: () => void;
  /**
   * stderr lines handled per second; beyond it (or past the time their
   * handling may take), stderr is not read until the next second.
   * @default {2000}
   */
  maxLogLinesPerSecond?: number;
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

// V8's own words when the heap cap or the memory limit ends a process, and
// Rust's when Deno's own allocations hit the limit (it then aborts).
const OUT_OF_MEMORY =
  /out of memory|Reached heap limit|Failed to reserve virtual memory|memory allocation of \d+ bytes failed/i;
// SIGTRAP and SIGABRT: how V8 ends a process on a fatal error. Only a real
// signal counts: a plugin can exit with any code it likes.
const FATAL_SIGNALS: ReadonlySet<string> = new Set(["SIGTRAP", "SIGABRT", "SIGSEGV"]);
// bubblewrap's codes for them (128 + n), used only when plugbox cannot read the real status.
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
  /** The plugin's stdin (under the OS layer, held until the sandbox may run the plugin). */
  readonly stdin: PluginInput;
  /** The plugin's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Resolves once the process has exited and its stderr is read. Never rejects. */
  readonly status: Promise<ExitStatus>;
  #child: Deno.ChildProcess;
  #ring: StderrRing;
  #intent: "stopped" | "killed" | "cpu-limit" | undefined;
  #watch: ExitWatch | undefined;
  #sandboxed: boolean;
  #v8: boolean;
  #signalShell: string | undefined;
  #exited = false;
  #gone = false;
  /** The process's start time in /proc (Linux, where this host may read it): its pid is its. */
  #started: string | undefined;
  /** Descendants seen when a stop began: an orphan leaves the tree when the plugin exits first. */
  #seen: SeenProcess[] = [];
  /** plugbox's verdict on the start, read from before the plugin's exec; set once. */
  #refusal: StartVerdict | undefined;

  /** @throws {Error} when the command cannot be spawned. */
  constructor(spec: SpawnSpec, options: PluginProcessOptions = {}) {
    this.#ring = new StderrRing(options.stderrRingBytes);
    this.#sandboxed = options.sandboxed ?? false;
    this.#v8 = options.v8 ?? true;
    this.#signalShell = options.signalShell;
    try {
      this.#child = new Deno.Command(spec.command, {
        args: spec.args,
        env: spec.env,
        clearEnv: true,
        cwd: spec.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // setsid() in the child before the exec: a session and process group of its own, no
        // controlling terminal (T12), one program fewer on every start than running `setsid`.
        detached: true,
      }).spawn();
    } catch (cause) {
      if (cause instanceof Deno.errors.NotCapable) throw explainHostPermission(cause);
      throw new Error(`Cannot spawn "${spec.command}": ${cause}`, { cause });
    }
    this.pid = this.#child.pid;
    this.#started = Deno.build.os === "linux" ? statFields(this.pid)?.[19] : undefined;
    this.stdout = this.#child.stdout;
    const input = new PluginInput(
      this.#child.stdin.getWriter(),
      Boolean(spec.waitsForGo && this.#sandboxed),
    );
    this.stdin = input;
    const onLine = options.onStderrLine;
    const mapLine = options.mapLine ?? ((line: string) => line);
    const drain = new AbortController();
    // Until the exec mark, plugbox's steps alone write here: the plugin has not run yet.
    let beforeExec = Boolean(spec.marksExec);
    const stderr = readStderr(this.#child.stderr, (said, fromPlugbox) => {
      let raw = said;
      // A drop (over the rate, or the host's budget for every plugin's stderr, which another
      // plugin can spend) may have taken the mark: from then on, nothing is read as plugbox's.
      if (fromPlugbox) beforeExec = false;
      else if (beforeExec) {
        if (raw.endsWith(EXEC_MARK)) {
          beforeExec = false;
          raw = raw.slice(0, -EXEC_MARK.length);
          if (raw === "") return;
        } else {
          const verdict = readVerdict(raw);
          if (verdict) return void (this.#refusal ??= verdict);
        }
      } else if (!fromPlugbox && OWN_WORDS.test(raw)) {
        raw = `\\${raw}`; // the plugin's words, never plugbox's (review 168)
      }
      const line = fromPlugbox ? raw : mapLine(raw);
      this.#ring.push(line);
      onLine?.(line, fromPlugbox);
    }, {
      signal: drain.signal,
      maxLinesPerSecond: options.maxLogLinesPerSecond,
      ended: this.#child.status,
    }).catch(() => {});
    // Under the OS layer, the plugin's own wait status (exit_cause.ts); it never rejects.
    this.#watch = this.#sandboxed ? new ExitWatch(this.#child.pid, () => input.go()) : undefined;
    const real = this.#watch?.run();
    this.status = this.#child.status.then(async (status) => {
      this.#gone = true;
      input.never();
      this.#watch?.end();
      // The sandbox goes with its bubblewrap, before the exit is reported.
      const sandboxGone = this.#watch?.endSandbox();
      // What the plugin started and left behind in its group goes with it, and what a stop saw.
      if (!this.#sandboxed && Deno.build.os !== "windows") {
        // No group left is the usual case (false); a host Deno may not let signal uses its sh.
        await sendEachLater([-this.pid], "SIGKILL", this.#signalShell);
        killSeen(this.#seen);
      }
      options.onExit?.();
      // stderr is read to its end, but a descendant holding it open cannot hold the exit.
      const timer = setTimeout(() => drain.abort(), options.drainMs ?? 500);
      const [ended] = await Promise.all([real, stderr, sandboxGone]);
      clearTimeout(timer);
      this.#exited = true;
      return this.#describe(status, ended);
    });
  }

  #describe(status: Deno.CommandStatus, real: RealExit | undefined): ExitStatus {
    const stderrTail = this.#ring.tail();
    // Under the OS layer the plugin's own wait status, when plugbox could read it.
    const ended = real ??
      { code: status.signal === null ? status.code : null, signal: status.signal };
    // Without it (a host without --allow-all cannot read /proc), bubblewrap's 128 + n is all
    // there is: such a code with V8's words counts as out of memory, as the README says.
    const guessed = this.#watch !== undefined && real === undefined && ended.code !== null &&
      FATAL_CODES.has(ended.code);
    const fatal = (ended.signal !== null && FATAL_SIGNALS.has(ended.signal)) || guessed;
    let reason: ExitStatus["reason"] = this.#intent ?? "exited";
    const ours = this.#intent === "killed" || this.#intent === "cpu-limit";
    if (!ours && this.#v8 && fatal && OUT_OF_MEMORY.test(stderrTail)) {
      reason = "out-of-memory";
    }
    return { code: ended.code, signal: ended.signal, reason, stderrTail };
  }

  /**
   * plugbox's own verdict on the start (its prologue's or its launcher's), where one refused it
   * before the plugin ran: read only from what stderr held before the exec mark, never from the
   * plugin's words. Known once {@linkcode status} resolves.
   */
  get refusal(): StartVerdict | undefined {
    return this.#refusal;
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** True once this host asked the process to end: a stop or a kill under way or done. */
  get ending(): boolean {
    return this.#intent !== undefined;
  }

  /** True once the process is known to have exited, before its stderr is read out (`status`). */
  get gone(): boolean {
    return this.#gone;
  }

  /**
   * True once the process is known to have exited (`gone`), or the kernel shows it has or will,
   * before Deno reports it: a zombie, its pid gone or another's, a SIGKILL pending; under the OS
   * layer, the plugin inside bubblewrap too (exit_cause.ts). Reads /proc, so it is asked only
   * where it matters (a hot standby's takeover); false where this host cannot tell.
   */
  endedNow(): boolean {
    if (this.#gone || endedOrKilled(this.pid, this.#started)) return true;
    return this.#watch?.pluginEnded() ?? false;
  }

  /** The last stderr lines, for messages. */
  stderrTail(): string {
    return this.#ring.tail();
  }

  #signal(signal: Deno.Signal): void {
    if (this.#gone) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited: nothing to signal.
    }
  }

  /**
   * SIGKILL now, to the process and everything it started (see
   * `kill_tree.ts`); the exit is reported with reason `"killed"`, or the
   * one given (`"cpu-limit"` from the CPU watchdog, which no later kill
   * overwrites).
   */
  kill(reason: "killed" | "cpu-limit" = "killed"): void {
    if (this.#gone) return;
    if (this.#intent !== "cpu-limit") this.#intent = reason;
    void killTree(this.pid, this.#sandboxed, this.#signalShell);
  }

  /** Like {@linkcode kill}, without yielding: for exit paths that cannot await. */
  killNow(): void {
    if (this.#gone) return;
    if (this.#intent !== "cpu-limit") this.#intent = "killed";
    killTreeNow(this.pid, this.#sandboxed, this.#signalShell);
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
    this.#watch?.hurry();
    // Under the Deno and Landlock layers, what the plugin started, before it can exit and orphan it
    // (a child in a session of its own is outside the group); killed once the plugin is gone.
    if (!this.#sandboxed && Deno.build.os === "linux") this.#seen = descendantsOf(this.pid, false);
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
