/**
 * One plugin under management: the lifecycle machine of `lifecycle.ts` run
 * against real processes (restarts with backoff and a crash budget, health
 * pings, unresponsive plugins killed), and calls that wait for a restart
 * (bounded) or fail fast.
 * @module
 */

import type { Contract, ContractApi } from "../contract.ts";
import {
  type ExitStatus,
  PluginExitedError,
  PluginUnavailableError,
  TimeoutError,
} from "../errors.ts";
import { checkManagedNumbers, checkMs, checkSignal } from "./check_options.ts";
import { deadlineSignal } from "./deadlines.ts";
import {
  type LifeAction,
  type LifeEvent,
  type LifeState,
  next,
  PUBLIC_STATE,
} from "./lifecycle.ts";
import type { ManagedOptions, PluginEvent, PluginState } from "./managed_types.ts";
import {
  type AnswerMap,
  CALL_TYPED,
  type CallOptions,
  CHARGE_CHECK,
  createApi,
  mapAnswer,
} from "./proxy.ts";
import {
  IN_BACKGROUND,
  ON_SPAWN,
  type Plugin,
  startPlugin,
  type WatchedStartOptions,
} from "./plugin.ts";
import { launchedSince, MAX_LAUNCH_EXCUSED_ROUNDS } from "./launch_gate.ts";
import {
  MAX_STARVED_WINDOWS,
  readWithin,
  type SchedTimes,
  schedTimes,
  starvedSide,
} from "./starvation.ts";
import { Standby } from "./standby.ts";
import { firstLineOf } from "../thrown_text.ts";
import { Waiters } from "./waiters.ts";
import { guarded } from "./listener.ts";
import { MANAGED_ONLY_KEYS } from "./option_keys.ts";
import type { StartOptions } from "./start_options.ts";

/** A managed plugin's options but its own (restart, health, standby): what each start takes. */
function startOptionsOf(options: ManagedOptions): StartOptions {
  const start = { ...options } as Record<string, unknown>;
  for (const key of MANAGED_ONLY_KEYS) delete start[key];
  return start as unknown as StartOptions;
}

export type { ManagedOptions, PluginEvent, PluginState, RestartPolicy } from "./managed_types.ts";

/**
 * A plugin the {@linkcode PluginHost} keeps alive. Calls go to whichever process is current.
 *
 * @example
 * ```ts ignore
 * import { PluginHost } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using host = new PluginHost();
 * const hello = await host.start("hello", "./plugins/hello/main.ts", { contracts: [Greeter] });
 * console.log(hello.state, hello.restarts, hello.current?.pid); // "running" 0 12345
 * await hello.restart();
 * console.log(await hello.api(Greeter).sayHello("a"));
 * ```
 */
export class ManagedPlugin {
  /** The plugin's name (unique in its host). */
  readonly name: string;
  /** Why it failed, once it has. */
  failure: string | undefined;
  /** Restarts so far (manual ones included). */
  restarts = 0;
  #life: LifeState = "starting";
  #current: Plugin | undefined;
  #module: string | URL;
  #options: ManagedOptions;
  #emit: (event: PluginEvent) => void;
  #crashes: number[] = [];
  #consecutive = 0;
  #startedAt: number | undefined;
  #reason = "";
  #lastExit: PluginExitedError | undefined;
  #lastStatus: ExitStatus | undefined;
  #spawning: { abort: AbortController; done: Promise<void> } | undefined;
  /** The hot standby, with `hotStandby` (and a policy that restarts). */
  #standby: Standby | undefined;
  /** The standby process `spawn` or `promote` took, until it is adopted. */
  #taken: Plugin | undefined;
  /**
   * Every process of this plugin from its spawn to its exit, whatever its part (current,
   * closing, standby ready, taken or starting, a start or restart in its handshake): what
   * `killNow()` SIGKILLs.
   */
  #processes = new Set<Plugin>();
  #closings = 0;
  #adopted = false;
  /** `start()` was called: a plugin is started once (review 128). */
  #begun = false;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #healthTimer: ReturnType<typeof setInterval> | undefined;
  /** A health round (a ping, its confirmation, the verdict) is under way. */
  #pinging = false;
  /** Ping windows in a row excused as starvation of CPU (reset by any answered ping). */
  #starvedWindows = 0;
  /** Health rounds in a row excused by the host's launches (reset by any answered ping). */
  #launchExcused = 0;
  /** Calls waiting for a process, and `start()`/`restart()` waiting for the next one. */
  #waiters = new Waiters<Plugin>();
  #runs = new Waiters<Plugin>();
  #stops = new Waiters<ExitStatus | undefined>();
  /** Events fed while a step runs, each run once the step before it is done (see `#on`). */
  #events: [LifeEvent, Plugin | undefined, (() => void) | undefined][] = [];
  #stepping = false;
  /** Removes the listener on the caller's `signal`, once stopped. */
  #unlisten: (() => void) | undefined;

  /** Use {@linkcode PluginHost.start}, which creates and starts it. */
  constructor(
    name: string,
    module: string | URL,
    options: ManagedOptions & { emit: (event: PluginEvent) => void },
  ) {
    const { emit, ...rest } = options;
    checkManagedNumbers(rest);
    this.name = name;
    this.#module = module;
    this.#options = rest;
    this.#emit = guarded(emit);
    if (rest.hotStandby && (rest.restart ?? "on-failure") !== "never") {
      this.#standby = new Standby({
        launch: (signal) => this.#launch(signal, true),
        windowMs: rest.restartWindowMs ?? 180_000,
        report: (change) => this.#emit({ type: "standby", plugin: this.name, ...change }),
      });
    }
    const signal = rest.signal;
    if (signal) {
      const onAbort = () => void this.stop();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#unlisten = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** Where it is in its life. */
  get state(): PluginState {
    return PUBLIC_STATE[this.#life];
  }

  /** The running process's handle, when there is one. */
  get current(): Plugin | undefined {
    return this.#current;
  }

  /** The pid of the hot standby, when one is started and idle (see `hotStandby`). */
  get standbyPid(): number | undefined {
    return this.#standby?.pid;
  }

  /**
   * Feeds one event to the machine and runs the actions of its step. An event fed while a step's
   * actions run (a listener told of a start, a promotion or a failure stops the plugin, or aborts
   * its signal) waits until that step is done: a step never runs in the middle of another (review
   * 80: a stop from the listener told of a promotion ended before the standby's adoption, which
   * then made a stopped plugin's process current, and started a standby beside it).
   */
  #on(event: LifeEvent, plugin?: Plugin, joining?: () => void): void {
    this.#events.push([event, plugin, joining]);
    if (this.#stepping) return;
    this.#stepping = true;
    // Every queued event gets its step even if an action throws, so no restart waits on a step
    // that never came; the first error is thrown once the queue is empty.
    let failure: { error: unknown } | undefined;
    for (let fed = this.#events.shift(); fed; fed = this.#events.shift()) {
      try {
        fed[2]?.(); // a restart waits from its own step on, not for the outcome of the one it ran in
        const step = next(this.#life, fed[0]);
        if (step) {
          this.#life = step.to;
          for (const action of step.actions) this.#run(action, fed[1], fed[0]);
        }
        this.#settleStop();
      } catch (error) {
        failure ??= { error };
      }
    }
    this.#stepping = false;
    // Stopped for good: the caller's signal no longer holds this plugin (a long-lived signal
    // shared by many starts of a name kept every one of them, review 80).
    if (this.#life === "stopped") this.#unlisten?.();
    if (failure) throw failure.error;
  }

  #run(action: LifeAction, plugin: Plugin | undefined, event: LifeEvent): void {
    switch (action) {
      case "spawn":
        // A restart the backoff ends is no one's start or restart by hand: in the background.
        return this.#spawn(event === "backoff-elapsed");
      case "adopt":
        return this.#adopt(plugin!);
      case "promote":
        return void this.#countCrash(true);
      case "discard":
        return this.#track(plugin!.close());
      case "close":
        return this.#close();
      case "abort-spawn":
        return this.#spawning?.abort.abort(
          new DOMException("The plugin was stopped", "AbortError"),
        );
      case "schedule":
        return this.#schedule();
      case "cancel-timer":
        clearTimeout(this.#restartTimer);
        this.#restartTimer = undefined;
        return;
      case "fail":
        return this.#fail();
      case "end":
        return this.#end();
      case "finish":
        // Only now that no process is left do the start and restarts waiting on one fail.
        this.#stops.resolve(this.#lastStatus);
        this.#runs.reject(this.#unavailable());
        return;
      case "reject":
        return this.#runs.reject(this.#unavailable());
    }
  }

  /** A stopping plugin with no start and no close left is stopped. */
  #settleStop(): void {
    if (this.#life === "stopping" && !this.#spawning && this.#closings === 0) this.#on("idle");
  }

  /** Counts a standby's clearing until it is done: a stop waits for it; it is no `closed`. */
  #clearStandby(): void {
    if (!this.#standby) return;
    this.#closings++;
    this.#standby.clear().then(() => {
      this.#closings--;
      this.#settleStop();
    });
  }

  /** Counts a close until it is done, then feeds `closed`. A close never rejects. */
  #track(closing: Promise<unknown>): void {
    this.#closings++;
    closing.catch(() => {}).then(() => {
      this.#closings--;
      this.#on("closed");
    });
  }

  #close(): void {
    const plugin = this.#current;
    this.#current = undefined;
    this.#stopHealth();
    if (!plugin) return this.#track(Promise.resolve());
    this.#track(plugin.close().then((status) => this.#lastStatus = status));
  }

  #spawn(background = false): void {
    const abort = new AbortController();
    // A ready standby is this start, done early; `abort-spawn` then finds it adopted or discarded.
    const ready = this.#taken = this.#standby?.take();
    const done = (ready ? Promise.resolve(ready) : this.#launch(abort.signal, background)).then(
      (plugin) => {
        this.#spawning = undefined;
        this.#on("spawned", plugin);
      },
      (error) => {
        this.#spawning = undefined;
        this.#reason = this.#life === "starting"
          ? `could not start: ${firstLineOf(error)}`
          : `restart failed: ${firstLineOf(error)}`;
        // Before the step, whose listeners may restart it: that restart waits for its own start
        // (review 80: it was rejected with this error while its start was under way).
        if (this.#life !== "stopping") this.#runs.reject(error); // when stopping, `finish` does
        this.#on(this.#mayRetry() ? "spawn-failed" : "spawn-failed-final");
      },
    );
    this.#spawning = { abort, done };
  }

  /**
   * Starts one process of this plugin with its options (a start's, a restart's or a standby's);
   * `background` for a restart after a crash and a standby, which hold at most half the host's
   * launch turns (launch_gate.ts).
   */
  #launch(signal: AbortSignal, background: boolean): Promise<Plugin> {
    const onAudit = guarded(this.#options.onAudit);
    const onProtocolFault = guarded(this.#options.onProtocolFault);
    const onEgress = guarded(this.#options.onEgress);
    const options: WatchedStartOptions = {
      ...startOptionsOf(this.#options),
      name: this.name,
      signal,
      [ON_SPAWN]: (plugin) => this.#own(plugin),
      [IN_BACKGROUND]: background,
      onAudit: this.#options.audit
        ? (entry) => {
          onAudit(entry);
          this.#emit({ type: "audit", plugin: this.name, entry });
        }
        : undefined,
      onProtocolFault: (detail) => {
        onProtocolFault(detail);
        this.#emit({ type: "fault", plugin: this.name, detail });
      },
      onUnresponsive: (detail) => this.#unresponsive(detail),
      onEgress: (entry) => {
        onEgress(entry);
        this.#emit({ type: "egress", plugin: this.name, entry });
      },
    };
    return startPlugin(this.#module, options);
  }

  /** Holds a process just spawned among this plugin's until it exits. */
  #own(plugin: Plugin): void {
    this.#processes.add(plugin);
    plugin.exited.then(() => this.#processes.delete(plugin));
  }

  #adopt(plugin: Plugin): void {
    const standby = plugin === this.#taken;
    this.#taken = undefined;
    if (this.#adopted) this.restarts++;
    this.#adopted = true;
    // Running again: a failure before (restarted by hand) and the exit that caused it are over.
    this.failure = undefined;
    this.#lastExit = undefined;
    this.#current = plugin;
    this.#startedAt = Date.now();
    // Rounds in a row are this process's: a predecessor killed after using its excuses up left
    // none for it, and a block of 2.5 ping timeouts while the host launched killed it at once
    // (review 142).
    this.#starvedWindows = this.#launchExcused = 0;
    const interval = this.#options.healthIntervalMs ?? 10_000;
    if (interval > 0 && this.#healthTimer === undefined) {
      this.#healthTimer = setInterval(() => this.#checkHealth(), interval);
      Deno.unrefTimer(this.#healthTimer);
    }
    this.#emit({
      type: "start",
      plugin: this.name,
      pid: plugin.pid,
      isolation: plugin.isolation,
      restarts: this.restarts,
      standby,
    });
    plugin.exited.then((status) => this.#exited(plugin, status));
    this.#waiters.resolve(plugin);
    this.#runs.resolve(plugin);
    this.#standby?.fill();
  }

  #exited(plugin: Plugin, status: ExitStatus): void {
    this.#lastStatus = status;
    if (plugin !== this.#current) {
      // Closed by a restart or a stop: expected.
      this.#emit({ type: "exit", plugin: this.name, pid: plugin.pid, status, expected: true });
      return;
    }
    this.#emit({ type: "exit", plugin: this.name, pid: plugin.pid, status, expected: false });
    // Told outside a step, the listener may have stopped or restarted the plugin: that step took
    // the exit in hand (its close found the process gone). Going on would take the standby for a
    // promotion its state no longer accepts, and leave it running (the listener fuzz found it).
    if (plugin !== this.#current) return;
    this.#current = undefined;
    this.#stopHealth();
    this.#lastExit = new PluginExitedError(this.name, status);
    this.#reason = firstLineOf(this.#lastExit);
    if ((this.#options.restart ?? "on-failure") === "never") {
      this.#reason = `it ${this.#reason.replace(/^Plugin "[^"]*" process /, "")}`;
    }
    // A used-up CPU budget is final: a restart would hand the plugin a fresh `cpu.totalMs`.
    if (status.reason === "cpu-limit") {
      this.#reason = `its CPU budget is used up, so it is not restarted: ${this.#reason}`;
      this.#on("crashed-final");
      return;
    }
    if (!this.#mayRetry()) return this.#on("crashed-final");
    // The ready standby takes over at once; without one, the backoff and a fresh start.
    const standby = this.#taken = this.#standby?.take();
    this.#on(standby ? "crashed-promote" : "crashed", standby);
  }

  /** Whether the policy and the crash budget allow one more restart. */
  #mayRetry(): boolean {
    if ((this.#options.restart ?? "on-failure") === "never") return false;
    const now = Date.now();
    const window = this.#options.restartWindowMs ?? 180_000;
    this.#crashes = this.#crashes.filter((t) => now - t < window);
    if (this.#crashes.length < (this.#options.maxRestarts ?? 5)) return true;
    this.#reason =
      `gave up after ${this.#crashes.length} restarts within ${window} ms; last: ${this.#reason}`;
    return false;
  }

  #schedule(): void {
    const delayMs = this.#countCrash(false);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#on("backoff-elapsed");
    }, delayMs);
  }

  /**
   * Counts a crash in the budget and the backoff, reports the restart, and
   * returns its delay. A promoted standby takes over with no delay (its
   * start is already done), but the crash still counts: the next restart
   * without a standby waits as long as it would have.
   */
  #countCrash(standby: boolean): number {
    const now = Date.now();
    this.#crashes.push(now);
    const initial = this.#options.backoffInitialMs ?? 100;
    const maxDelay = this.#options.backoffMaxMs ?? 10_000;
    // A process that stayed up as long as the longest delay was healthy: start over.
    if (this.#startedAt !== undefined && now - this.#startedAt >= maxDelay) this.#consecutive = 0;
    this.#startedAt = undefined;
    const backoff = Math.min(maxDelay, initial * 2 ** this.#consecutive++);
    const delayMs = standby ? 0 : backoff;
    this.#emit({
      type: "restart",
      plugin: this.name,
      attempt: this.#crashes.length,
      delayMs,
      reason: this.#reason,
      standby,
    });
    return delayMs;
  }

  #fail(): void {
    this.failure = this.#reason;
    this.#stopHealth();
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#emit({ type: "failed", plugin: this.name, reason: this.failure });
    this.#waiters.reject(this.#unavailable());
    this.#clearStandby();
  }

  #end(): void {
    this.#stopHealth();
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#waiters.reject(this.#unavailable());
    this.#clearStandby();
  }

  #stopHealth(): void {
    clearInterval(this.#healthTimer);
    this.#healthTimer = undefined;
  }

  #unavailable(): PluginUnavailableError {
    const reason = this.failure ?? this.#lastExit?.message.split("\n")[0] ??
      "no process is running";
    return new PluginUnavailableError(this.name, this.state, reason, { cause: this.#lastExit });
  }

  #unresponsive(detail: string): void {
    const plugin = this.#current;
    if (!plugin || this.#life !== "running") return;
    this.#emit({ type: "unresponsive", plugin: this.name, detail });
    plugin.kill(); // the exit handler restarts it per policy
  }

  #checkHealth(): void {
    const plugin = this.#current;
    // One round at a time: a ping sent while the last is unanswered tells nothing new.
    if (!plugin || this.#life !== "running" || this.#pinging) return;
    this.#pinging = true;
    const done = () => void (this.#pinging = false);
    this.#healthRound(plugin).then(done, done);
  }

  /**
   * One health round. A missed ping is confirmed by a second before the
   * plugin counts as unresponsive: a plugin starved of CPU for a moment, or
   * whose answer waits in this host's own backlog, answers the second; one
   * stuck in a loop misses both. A second miss in a window where the kernel
   * saw the plugin wait runnable for a CPU and hardly run, or this host's
   * event loop wait for one, is starvation (a thousand plugins called at
   * once on two cores): excused, boundedly (starvation.ts).
   */
  async #healthRound(plugin: Plugin): Promise<void> {
    const timeoutMs = this.#options.healthTimeoutMs ?? 5000;
    let before: Promise<SchedTimes | "late" | undefined> | undefined;
    for (const confirming of [false, true]) {
      const sent = Date.now();
      try {
        await plugin.ping(timeoutMs);
        if (plugin === this.#current) this.#starvedWindows = this.#launchExcused = 0;
        return;
      } catch (error) {
        if (!(error instanceof TimeoutError) || plugin !== this.#current) return;
        if (this.#life !== "running") return;
        // Launches meanwhile (many plugins starting) take the CPU: not counted, the next round
        // decides; a few rounds in a row, or another plugin's crash loop shields this one for good.
        if (launchedSince(sent) && this.#launchExcused < MAX_LAUNCH_EXCUSED_ROUNDS) {
          this.#launchExcused++;
          return;
        }
        // Its answers' reading paced by this host meanwhile: the ping's answer waited unread behind
        // them (review 146). Bounded by what it answers: a plugin stuck in a loop answers nothing.
        if (plugin.answersPacedSince(sent)) return;
      }
      if (!confirming) before = this.#schedTimes(plugin, timeoutMs);
    }
    await this.#judgeMiss(plugin, timeoutMs, before);
  }

  /** Two pings missed in a row: unresponsive, unless the window was starvation (bounded). */
  async #judgeMiss(
    plugin: Plugin,
    timeoutMs: number,
    before: Promise<SchedTimes | "late" | undefined> | undefined,
  ): Promise<void> {
    const start = await before;
    const end = start && start !== "late" ? await this.#schedTimes(plugin, timeoutMs) : undefined;
    if (plugin !== this.#current || this.#life !== "running") return;
    const read = start && start !== "late" && end && end !== "late";
    const side = read ? starvedSide(start, end, plugin.plan.cpu.share) : undefined;
    if (read && side && this.#starvedWindows < MAX_STARVED_WINDOWS) {
      this.#starvedWindows++;
      this.#emit({
        type: "starved",
        plugin: this.name,
        side,
        windowMs: end.at - start.at,
        ranMs: Math.round(end.runMs - start.runMs),
        // A thread that ended takes its wait out of the sum: never below 0.
        waitedMs: Math.max(0, Math.round(end.waitMs - start.waitMs)),
        hostWaitedMs: Math.round(end.hostWaitMs - start.hostWaitMs),
      });
      return;
    }
    const starved = this.#starvedWindows > 0
      ? ` (after ${this.#starvedWindows} window(s) excused as starved of CPU)`
      : "";
    const late = start === "late" || end === "late"
      ? ` (its CPU times could not be read within ${timeoutMs} ms)`
      : "";
    this.#unresponsive(
      `no answer to $/ping within ${timeoutMs} ms, twice in a row${starved}${late}`,
    );
  }

  /**
   * The plugin's CPU run and wait times, where the kernel shows them (Linux,
   * with `sh`), or "late" when they take longer than a ping may.
   */
  #schedTimes(plugin: Plugin, ms: number): Promise<SchedTimes | "late" | undefined> {
    const { sh, cgroup } = plugin.plan.cpu;
    if (!sh || Deno.build.os !== "linux") return Promise.resolve(undefined);
    const usage = cgroup?.cpuacctDir && `${cgroup.cpuacctDir}/cpuacct.usage`;
    return readWithin(schedTimes(sh, plugin.pid, usage || undefined), ms);
  }

  /**
   * Starts the first process; rejects (and leaves the plugin failed) when that start fails.
   * @throws {TypeError} when it was started already: `restart()` starts it again.
   */
  async start(): Promise<void> {
    // Once: a second start's process was spawned beside the current one (or a stopped plugin's),
    // in a state whose table has no `spawned`; no stop closed it, and the start never settled
    // (review 128).
    if (this.#begun) {
      throw new TypeError(
        `Cannot start plugin "${this.name}": it was started already (it is ${this.state}): restart() it, or start a new one with PluginHost.start() once it is stopped`,
      );
    }
    this.#begun = true;
    if (this.#options.signal?.aborted) {
      await this.stop();
      throw this.#unavailable();
    }
    const running = this.#runs.wait();
    this.#spawn();
    await running;
  }

  /**
   * Sends one raw call to the current process. During a restart it waits
   * (within the call's deadline) or fails fast, per `whileRestarting`.
   */
  async call(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    const current = this.#running();
    if (current) return current.call(method, params, options);
    const timeout = options.timeout ?? this.#options.callTimeout ?? 30_000;
    // Checked as the process's own call checks it, before the wait (review 122: NaN, 1e308 or a
    // string waited out a restart on a timer that fired at once, a TimeoutError "after NaN ms").
    checkMs("timeout", timeout);
    checkSignal(options.signal);
    const started = Date.now();
    let plugin: Plugin;
    {
      using waiting = deadlineSignal(
        timeout,
        () =>
          new TimeoutError({ plugin: this.name, operation: "restart", method, timeoutMs: timeout }),
        options.signal,
      );
      plugin = await this.#whenRunning(waiting.signal);
    }
    const left = Math.max(1, timeout - (Date.now() - started));
    return plugin.call(method, params, { ...options, timeout: left });
  }

  /**
   * A typed call from {@linkcode createApi}: straight to the running process's own.
   * @ignore
   */
  [CALL_TYPED](
    method: string,
    params: unknown[],
    options: CallOptions,
    answer: AnswerMap,
  ): Promise<unknown> {
    const current = this.#running();
    if (current) return current[CALL_TYPED](method, params, options, answer);
    return mapAnswer(this.call(method, params, options), answer);
  }

  /**
   * What checking an answer took after its reading: owed by the running process's next answer
   * (review 153; see Plugin's).
   * @ignore
   */
  [CHARGE_CHECK](ms: number): void {
    this.#current?.[CHARGE_CHECK](ms);
  }

  /**
   * The running process, if it takes calls. One this host has killed (a missed ping, a fault) is
   * still `running` until its exit is seen, and its calls rejected at once, without a turn of the
   * event loop: a caller that retried on failure spun in microtasks, the exit was never seen, and
   * the restart never came (review 138's lead: a host held 14 minutes). Calls then wait for the
   * restart as in `restarting`.
   */
  #running(): Plugin | undefined {
    const current = this.#current;
    return this.#life === "running" && current && !current.ending ? current : undefined;
  }

  /** Resolves with the running process, waiting through a start or restart when the policy allows. */
  #whenRunning(signal: AbortSignal): Promise<Plugin> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const running = this.#running();
    if (running) return Promise.resolve(running);
    const state = this.state;
    // A running process that is ending: its exit decides, as a restart's does.
    const ending = this.#life === "running" && this.#current !== undefined;
    if (!ending && state !== "restarting" && state !== "starting") {
      return Promise.reject(this.#unavailable());
    }
    if ((this.#options.whileRestarting ?? "wait") === "fail") {
      // Refused on a later turn of the event loop: at once, a caller that retried at once spun in
      // microtasks, and neither the exit nor the backoff's timer came (review 141: 100,000 tries,
      // 0 restarts). A restart under way is what that turn lets happen.
      const error = this.#unavailable();
      return new Promise((_, reject) => setTimeout(() => reject(error), 0));
    }
    return this.#waiters.wait(signal);
  }

  /**
   * A typed API whose calls follow this plugin across restarts.
   * @throws {TypeError} when the contract was not among those it was started with.
   */
  api<C extends Contract>(contract: C, options: CallOptions = {}): ContractApi<C> {
    if (!this.#options.contracts.includes(contract)) {
      throw new TypeError(
        `Cannot use contract "${contract?.name}" with plugin "${this.name}": it was not started with it`,
      );
    }
    return createApi(contract, this, options);
  }

  /**
   * Stops and starts the plugin now; not counted against the restart budget.
   * A restart already under way (or the first start) is joined, not doubled.
   * Rejects when the new process does not come up (the policy then decides,
   * as after a crash) or the plugin is stopped meanwhile. With `hotStandby`,
   * the old process is closed first, then the ready standby (if any) is
   * promoted instead of starting one.
   */
  async restart(): Promise<void> {
    if (this.#life === "stopping" || this.#life === "stopped") throw this.#unavailable();
    // Restarted by hand after it gave up: the crashes that made it give up are over (review 39).
    if (this.#life === "failed") this.#crashes = [];
    // Its wait begins with its event's step: fed from a listener, it waits for that step first
    // (review 80: a restart asked for at a start or a promotion resolved with the process it
    // was to replace, while it had not yet begun).
    await new Promise<Plugin>((resolve, reject) =>
      this.#on("restart", undefined, () => void this.#runs.wait().then(resolve, reject))
    );
  }

  /**
   * Stops the plugin for good; resolves with how its last process ended,
   * once no process of it is left and no start is under way.
   */
  stop(): Promise<ExitStatus | undefined> {
    if (this.#life === "stopped") return Promise.resolve(this.#lastStatus);
    const stopped = this.#stops.wait();
    this.#on("stop");
    return stopped;
  }

  /**
   * SIGKILLs every process of the plugin at once (the current one, those
   * closing, the standby, any start or restart in progress), for exit paths
   * that cannot await. It is a stop: what exits is not restarted (review 59:
   * the plugin came back, counted as a crash).
   */
  killNow(): void {
    // All before the stop, which hands them to closes (the stop ladder) that take their time, and
    // whatever their part: one already on its ladder (a restart's old process, a stop's), a standby
    // taken and not yet adopted, a start in its handshake, whose abort kills it only once the
    // handshake noticed, on a later turn of the event loop that an exit path never gives.
    for (const plugin of this.#processes) plugin.kill({ wait: false });
    if (this.#life !== "stopped") this.#on("stop");
    this.#stopHealth();
    clearTimeout(this.#restartTimer);
    this.#spawning?.abort.abort();
  }
}
