/**
 * How a plugin's Deno process really ended under the OS layer (THREATS T23).
 * bubblewrap reaps the plugin inside its PID namespace and reports a death
 * by signal n as exit code 128 + n, which a plugin can fake with
 * `Deno.exit(128 + n)`. So plugbox holds the sandbox's init (bubblewrap's
 * reaper, pid 1 inside) stopped while the plugin runs: when the plugin
 * exits it stays a zombie, whose wait status the kernel shows in
 * `/proc/<pid>/stat`; plugbox reads it and lets the reaper go on. The
 * reaper is stopped only once it waits (`/proc/<pid>/wchan`), so after it
 * armed its death signal; where the kernel does not show that, nothing is
 * stopped. The status is the kernel's, so it cannot be faked from inside.
 * The same sighting of the reaper waiting (armed) is when the sandbox may
 * run the plugin: the watch tells its owner to send the go (`GO_STEP` in
 * the sandbox's layers.ts). Deno lets a host read /proc/<pid> only with
 * --allow-all; without it nothing is stopped, the go is sent at once, and
 * the caller falls back to bubblewrap's code. A kill (`kill_tree.ts`) stops
 * bubblewrap, not the reaper, and SIGKILLs the reaper whether this watch
 * holds it stopped or not (see `proc_tree.ts`).
 * @module
 */

import { kernelShowsWaits } from "../sandbox/mod.ts";
import { childrenOf, endedOrKilled, readText, send, statFields } from "../sandbox/mod.ts";

/** The wait status of a process, decoded. */
export interface RealExit {
  /** The exit code, or null after a signal. */
  code: number | null;
  /** The signal's name, or null after an exit. */
  signal: Deno.Signal | null;
}

// Linux signal numbers, for naming the one in a wait status.
const SIGNALS: Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/** Decodes a wait status as `waitpid` reports it. */
export function decodeWaitStatus(status: number): RealExit {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: SIGNALS[signal - 1] ?? "SIGKILL" };
}

/** Polling intervals, in ms: while the plugin runs, and once its end is expected. */
const RUNNING_POLL_MS = 50;
const HURRIED_POLL_MS = 2;

/**
 * How long the go waits to see the reaper armed before it is sent all the
 * same (as where nothing can be seen), in ms: a start must not stall on a
 * kernel or machine that shows something this watch does not expect.
 */
const GO_DEADLINE_MS = 5_000;

/**
 * Watches one bubblewrap sandbox: once the plugin runs, it stops the
 * sandbox's reaper; then it polls the plugin's state in /proc and, when the
 * plugin is a zombie, reads its real wait status and resumes the reaper.
 * Where /proc, signals or the right to read the status are missing it
 * attaches to nothing and reports nothing.
 *
 * @example
 * ```ts ignore
 * const watch = new ExitWatch(child.pid);
 * const real = watch.run(); // resolves with { code, signal }, or undefined
 * child.status.then(() => watch.end());
 * ```
 */
export class ExitWatch {
  #wrapper: number;
  #init: number | undefined;
  #initStarted: string | undefined;
  #plugin: number | undefined;
  #pluginStarted: string | undefined;
  #ended = false;
  #released = false;
  #pollMs = RUNNING_POLL_MS;
  #wake: (() => void) | undefined;

  #onGo: (() => void) | undefined;

  /**
   * Watches the sandbox whose bubblewrap process is `wrapper` (the host's
   * child). `onGo` is called once the plugin may run (the sandbox waits for
   * the host's go: `GO_STEP` in layers.ts): when the reaper was seen waiting
   * while still the wrapper's child, or when that cannot be seen here (no
   * /proc, a kernel that shows no waits, a reaper the host may not read),
   * or at the go's deadline (`run`). It is not called when the wrapper is
   * seen gone first: the sandbox then ends on its own.
   */
  constructor(wrapper: number, onGo?: () => void) {
    this.#wrapper = wrapper;
    this.#onGo = onGo;
  }

  /** Tells the owner the plugin may run; at most once. */
  #go(): void {
    const onGo = this.#onGo;
    this.#onGo = undefined;
    onGo?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Attaches, then waits for the plugin's exit; see the class. Never rejects.
   * The go comes at the latest `goDeadlineMs` after the call.
   */
  async run(
    attachTimeoutMs = 10_000,
    goDeadlineMs = GO_DEADLINE_MS,
  ): Promise<RealExit | undefined> {
    try {
      const attached = await this.#attach(attachTimeoutMs, goDeadlineMs);
      // Nothing seen to wait for (no /proc, or too slow to tell): the go as before this check.
      if (!this.#ended) this.#go();
      if (!attached) return undefined;
      while (!this.#ended) {
        const fields = statFields(this.#plugin!);
        if (!fields) return undefined;
        // Field 52 of stat (index 49 after the name) is the status as waitpid reports it.
        if (fields[0] === "Z") return decodeWaitStatus(Number(fields[49]));
        await this.#sleep(this.#pollMs);
      }
      return undefined;
    } catch {
      if (!this.#ended) this.#go();
      return undefined;
    } finally {
      this.#release();
    }
  }

  async #attach(timeoutMs: number, goDeadlineMs: number): Promise<boolean> {
    // Deno opens /proc/<pid> only to --allow-all, and signals only to an unscoped --allow-run:
    // without them there is nothing to watch with (and nothing is stopped).
    if (readText(`/proc/${this.#wrapper}/stat`) === undefined) return false;
    // Where the kernel shows no waits, nothing here could ever be seen: the go at once.
    if (!kernelShowsWaits()) return false;
    const wrapper = String(this.#wrapper);
    const end = Date.now() + timeoutMs;
    const goEnd = Date.now() + goDeadlineMs;
    let pause = 1;
    while (!this.#ended && Date.now() < end) {
      const [init] = childrenOf(this.#wrapper);
      const [plugin] = init === undefined ? [] : childrenOf(init);
      const command = plugin === undefined ? undefined : readText(`/proc/${plugin}/cmdline`);
      // The reaper forks and its child execs the plugin: wait for the exec (a command line of
      // its own, not the reaper's copy nor a zombie's empty one: a setuid bubblewrap's reaper
      // first waits for a helper of its own), and for the reaper to wait. It arms its own death
      // signal (--die-with-parent) just before its wait loop, and under load the plugin can
      // exec first: a reaper stopped before that would outlive a host that dies (SIGKILLed
      // hosts left sandboxes behind so). In its loop it stays.
      const execed = command !== undefined && command !== "" &&
        command !== readText(`/proc/${init}/cmdline`);
      // What the host may not read of the reaper (ptrace rules) reads as `0`: the go at once.
      if (execed && readText(`/proc/${init}/environ`) === undefined) return false;
      if (execed && readText(`/proc/${init}/wchan`) === "do_wait") {
        // Read after the wait was seen: if the reaper is still the wrapper's child, the wrapper
        // was alive when the reaper armed, and its death (the host's) now ends the sandbox. If
        // not, the wrapper is gone and the plugin must never run: no go.
        if (statFields(init)?.[1] !== wrapper) {
          this.#onGo = undefined;
          return false;
        }
        this.#go();
        // The status is shown only to those who may read the process (else as 0).
        if (readText(`/proc/${plugin}/environ`) === undefined) return false;
        if (!send(init, "SIGSTOP")) return false;
        this.#init = init;
        this.#initStarted = statFields(init)?.[19];
        this.#plugin = plugin;
        this.#pluginStarted = statFields(plugin)?.[19];
        return true;
      }
      // Not seen in time: the go all the same (while the wrapper lives; else the sandbox ends
      // on its own), and the watch goes on trying to attach.
      if (Date.now() > goEnd && (statFields(this.#wrapper)?.[0] ?? "Z") !== "Z") this.#go();
      await this.#sleep(pause);
      // The plugin's start waits for this: poll often (each poll reads a few small /proc files).
      pause = Math.min(pause * 2, 4);
    }
    return false;
  }

  /**
   * Whether the kernel shows the plugin ended now (a zombie, gone, its pid another process's, or
   * a SIGKILL pending: `endedOrKilled`), before bubblewrap's own exit says so: that exit waits
   * for this watch's next poll, and for bubblewrap, which a SIGSTOP holds. False until the watch
   * is attached.
   */
  pluginEnded(): boolean {
    return this.#plugin !== undefined && endedOrKilled(this.#plugin, this.#pluginStarted);
  }

  /** The plugin's end is expected (its input was closed): poll quickly from now on. */
  hurry(): void {
    this.#pollMs = HURRIED_POLL_MS;
    this.#wake?.();
  }

  /** The sandbox is gone (bubblewrap exited): stop watching. */
  end(): void {
    this.#ended = true;
    this.#onGo = undefined;
    this.#wake?.();
  }

  /**
   * The wrapper is gone: ends the sandbox it left, if it is still there (its
   * init, found by pid and start time, so a reused pid is never hit), and
   * resolves once nothing of it is left, within `ms`. bubblewrap's
   * `--die-with-parent` ends it too, but a death signal is asynchronous: an
   * exit reported while the sandbox still runs would break "no process left".
   */
  async endSandbox(ms = 2_000): Promise<void> {
    const init = this.#init;
    if (init === undefined) return;
    const ours = () => {
      const fields = statFields(init);
      return fields !== undefined && fields[0] !== "Z" && fields[19] === this.#initStarted;
    };
    if (ours()) send(init, "SIGKILL");
    const plugin = this.#plugin!;
    const pluginLives = () => (statFields(plugin)?.[0] ?? "Z") !== "Z";
    const end = Date.now() + ms;
    while ((ours() || pluginLives()) && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  #release(): void {
    if (this.#released || this.#init === undefined) return;
    this.#released = true;
    // Only while it is still the wrapper's child: a pid is reused once its process is gone.
    if (statFields(this.#init)?.[1] === String(this.#wrapper)) send(this.#init, "SIGCONT");
  }
}
