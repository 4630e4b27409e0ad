/**
 * One plugin under management: restarts with backoff and a crash budget,
 * health pings, unresponsive plugins killed, and calls that wait for a
 * restart (bounded) or fail fast.
 * @module
 */

import type { Contract, ContractApi } from "../contract.ts";
import {
  type ExitStatus,
  PluginExitedError,
  PluginUnavailableError,
  TimeoutError,
} from "../errors.ts";
import { deadlineSignal } from "./deadlines.ts";
import { type CallOptions, createApi } from "./proxy.ts";
import { type Plugin, type StartOptions, startPlugin } from "./plugin.ts";
import type { EgressEntry } from "./egress_log.ts";
import type { IsolationLayer } from "../sandbox/mod.ts";

/**
 * What the manager does when a plugin exits on its own.
 *
 * @example
 * ```ts ignore
 * import { PluginHost, type RestartPolicy } from "@plugbox/plugbox";
 *
 * const restart: RestartPolicy = Deno.env.get("CI") ? "never" : "on-failure";
 * await using host = new PluginHost({ defaults: { restart } });
 * ```
 */
export type RestartPolicy = "never" | "on-failure";

/**
 * Where a managed plugin is in its life.
 *
 * @example
 * ```ts ignore
 * import { PluginHost, type PluginState } from "@plugbox/plugbox";
 *
 * await using host = new PluginHost();
 * // ... host.start(...) for each plugin
 * const down: PluginState[] = ["stopped", "failed"];
 * const broken = host.list().filter((p) => down.includes(p.state)).map((p) => p.name);
 * ```
 */
export type PluginState = "starting" | "running" | "restarting" | "stopping" | "stopped" | "failed";

/**
 * Something that happened to a managed plugin.
 *
 * @example
 * ```ts ignore
 * import { type PluginEvent, PluginHost } from "@plugbox/plugbox";
 *
 * const onEvent = (event: PluginEvent) => {
 *   if (event.type === "restart") console.error(`${event.plugin}: restart in ${event.delayMs} ms`);
 *   if (event.type === "failed") console.error(`${event.plugin} gave up: ${event.reason}`);
 * };
 * await using host = new PluginHost({ onEvent });
 * ```
 */
export type PluginEvent =
  | { type: "start"; plugin: string; pid: number; isolation: IsolationLayer; restarts: number }
  | { type: "exit"; plugin: string; status: ExitStatus; expected: boolean }
  | { type: "restart"; plugin: string; attempt: number; delayMs: number; reason: string }
  | { type: "failed"; plugin: string; reason: string }
  | { type: "unresponsive"; plugin: string; detail: string }
  | { type: "fault"; plugin: string; detail: string }
  | { type: "egress"; plugin: string; entry: EgressEntry };

/**
 * Options for a managed plugin: how to start it, and how to keep it alive.
 *
 * @example
 * ```ts ignore
 * import { PluginHost } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using host = new PluginHost();
 * await host.start("hello", "./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   maxRestarts: 3,
 *   whileRestarting: "fail",
 *   healthIntervalMs: 5_000,
 * });
 * ```
 */
export interface ManagedOptions extends StartOptions {
  /**
   * Restart after an unexpected exit (`"on-failure"`), or mark it failed (`"never"`).
   * @default {"on-failure"}
   */
  restart?: RestartPolicy;
  /**
   * Restarts allowed within `restartWindowMs` before the plugin is marked failed.
   * @default {5}
   */
  maxRestarts?: number;
  /**
   * The window for `maxRestarts`, in ms (VS Code gives up after 5 crashes in 3 minutes).
   * @default {180000}
   */
  restartWindowMs?: number;
  /**
   * First restart delay, doubled after each consecutive failure, in ms. The
   * doubling starts over once a process has stayed up for `backoffMaxMs`.
   * @default {100}
   */
  backoffInitialMs?: number;
  /**
   * Longest restart delay, in ms.
   * @default {10000}
   */
  backoffMaxMs?: number;
  /**
   * Calls made while restarting wait for it (bounded by the call's
   * deadline) or fail at once with `PluginUnavailableError`.
   * @default {"wait"}
   */
  whileRestarting?: "wait" | "fail";
  /**
   * Interval between health pings in ms; 0 turns them off.
   * @default {10000}
   */
  healthIntervalMs?: number;
  /**
   * Deadline for each health ping, in ms; a missed one restarts the plugin.
   * @default {5000}
   */
  healthTimeoutMs?: number;
}

interface Waiter {
  resolve(plugin: Plugin): void;
  reject(reason: unknown): void;
}

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
  /** Where it is in its life. */
  state: PluginState = "starting";
  /** The running process's handle, when there is one. */
  current: Plugin | undefined;
  /** Why it failed, once it has. */
  failure: string | undefined;
  /** Restarts so far (manual ones included). */
  restarts = 0;
  #module: string | URL;
  #options: ManagedOptions;
  #emit: (event: PluginEvent) => void;
  #crashes: number[] = [];
  #consecutive = 0;
  #startedAt: number | undefined;
  #waiters: Waiter[] = [];
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #healthTimer: ReturnType<typeof setInterval> | undefined;
  #lastExit: PluginExitedError | undefined;

  /** Use {@linkcode PluginHost.start}, which creates and starts it. */
  constructor(
    name: string,
    module: string | URL,
    options: ManagedOptions & { emit: (event: PluginEvent) => void },
  ) {
    this.name = name;
    this.#module = module;
    const { emit, ...rest } = options;
    this.#options = rest;
    this.#emit = emit;
  }

  /** Starts the first process; rejects (and leaves the plugin failed) when that start fails. */
  async start(): Promise<void> {
    let plugin: Plugin;
    try {
      plugin = await this.#spawn();
    } catch (error) {
      if (this.state === "starting") {
        this.#fail(`could not start: ${error instanceof Error ? error.message : error}`);
      }
      throw error;
    }
    if (this.state !== "starting") {
      await plugin.close(); // stopped while it was starting: do not leak the new process
      throw this.#unavailable();
    }
    this.#adopt(plugin);
  }

  #spawn(): Promise<Plugin> {
    return startPlugin(this.#module, {
      ...this.#options,
      name: this.name,
      onProtocolFault: (detail) => {
        this.#options.onProtocolFault?.(detail);
        this.#emit({ type: "fault", plugin: this.name, detail });
      },
      onUnresponsive: (detail) => this.#unresponsive(detail),
      onEgress: (entry) => {
        this.#options.onEgress?.(entry);
        this.#emit({ type: "egress", plugin: this.name, entry });
      },
    });
  }

  #adopt(plugin: Plugin): void {
    this.current = plugin;
    this.state = "running";
    this.#startedAt = Date.now();
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
    });
    plugin.exited.then((status) => this.#exited(plugin, status));
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(plugin);
  }

  #exited(plugin: Plugin, status: ExitStatus): void {
    if (plugin !== this.current) return;
    const expected = this.state === "stopping" || this.state === "stopped" ||
      this.state === "restarting";
    this.#emit({ type: "exit", plugin: this.name, status, expected });
    if (expected) return;
    this.#lastExit = new PluginExitedError(this.name, status);
    this.current = undefined;
    if ((this.#options.restart ?? "on-failure") === "never") {
      this.#fail(
        `it ${this.#lastExit.message.split("\n")[0].replace(/^Plugin "[^"]*" process /, "")}`,
      );
      return;
    }
    this.#scheduleRestart(this.#lastExit.message.split("\n")[0]);
  }

  #scheduleRestart(reason: string): void {
    const now = Date.now();
    const window = this.#options.restartWindowMs ?? 180_000;
    const max = this.#options.maxRestarts ?? 5;
    this.#crashes = this.#crashes.filter((t) => now - t < window);
    if (this.#crashes.length >= max) {
      this.#fail(
        `gave up after ${this.#crashes.length} restarts within ${window} ms; last: ${reason}`,
      );
      return;
    }
    this.#crashes.push(now);
    const initial = this.#options.backoffInitialMs ?? 100;
    const maxDelay = this.#options.backoffMaxMs ?? 10_000;
    // A process that stayed up as long as the longest delay was healthy: start over.
    if (this.#startedAt !== undefined && now - this.#startedAt >= maxDelay) this.#consecutive = 0;
    this.#startedAt = undefined;
    const delayMs = Math.min(maxDelay, initial * 2 ** this.#consecutive++);
    this.state = "restarting";
    this.#emit({
      type: "restart",
      plugin: this.name,
      attempt: this.#crashes.length,
      delayMs,
      reason,
    });
    this.#restartTimer = setTimeout(async () => {
      this.#restartTimer = undefined;
      try {
        const plugin = await this.#spawn();
        if (this.state !== "restarting") {
          await plugin.close(); // stopped while it was starting
          return;
        }
        this.restarts++;
        this.#adopt(plugin);
      } catch (error) {
        if (this.state === "restarting") {
          this.#scheduleRestart(
            `restart failed: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
          );
        }
      }
    }, delayMs);
  }

  #fail(reason: string): void {
    this.state = "failed";
    this.failure = reason;
    this.#stopTimers();
    this.#emit({ type: "failed", plugin: this.name, reason });
    this.#rejectWaiters();
  }

  #rejectWaiters(): void {
    const error = this.#unavailable();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  #unavailable(): PluginUnavailableError {
    const reason = this.failure ?? this.#lastExit?.message.split("\n")[0] ??
      "no process is running";
    return new PluginUnavailableError(this.name, this.state, reason, { cause: this.#lastExit });
  }

  #unresponsive(detail: string): void {
    const plugin = this.current;
    if (!plugin || this.state !== "running") return;
    this.#emit({ type: "unresponsive", plugin: this.name, detail });
    plugin.kill(); // the exit handler restarts it per policy
  }

  #checkHealth(): void {
    const plugin = this.current;
    if (!plugin || this.state !== "running") return;
    plugin.ping(this.#options.healthTimeoutMs ?? 5000).catch((error) => {
      if (error instanceof TimeoutError && plugin === this.current) {
        this.#unresponsive(`no answer to $/ping within ${error.timeoutMs} ms`);
      }
    });
  }

  /** Resolves with the running process, waiting through a restart when the policy allows. */
  #whenRunning(signal: AbortSignal): Promise<Plugin> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.state === "running" && this.current) return Promise.resolve(this.current);
    if (this.state !== "restarting" && this.state !== "starting") {
      return Promise.reject(this.#unavailable());
    }
    if ((this.#options.whileRestarting ?? "wait") === "fail") {
      return Promise.reject(this.#unavailable());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (plugin) => {
          signal.removeEventListener("abort", onAbort);
          resolve(plugin);
        },
        reject: (reason) => {
          signal.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Sends one raw call to the current process. During a restart it waits
   * (within the call's deadline) or fails fast, per `whileRestarting`.
   */
  async call(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.state === "running" && this.current) return this.current.call(method, params, options);
    const timeout = options.timeout ?? this.#options.callTimeout ?? 30_000;
    const started = Date.now();
    let plugin: Plugin;
    {
      using waiting = deadlineSignal(
        timeout,
        () =>
          new TimeoutError({
            plugin: this.name,
            operation: "restart",
            method,
            timeoutMs: timeout,
          }),
        options.signal,
      );
      plugin = await this.#whenRunning(waiting.signal);
    }
    const left = Math.max(1, timeout - (Date.now() - started));
    return plugin.call(method, params, { ...options, timeout: left });
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

  /** Stops and starts the plugin now; not counted against the restart budget. */
  async restart(): Promise<void> {
    if (this.state === "stopping" || this.state === "stopped") throw this.#unavailable();
    this.state = "restarting";
    clearTimeout(this.#restartTimer);
    await this.current?.close();
    let plugin: Plugin;
    try {
      plugin = await this.#spawn();
    } catch (error) {
      // The new process did not come up: the policy decides, as after a crash.
      if (this.state === "restarting") {
        const reason = `restart failed: ${
          error instanceof Error ? error.message.split("\n")[0] : error
        }`;
        if ((this.#options.restart ?? "on-failure") === "never") this.#fail(reason);
        else this.#scheduleRestart(reason);
      }
      throw error;
    }
    if (this.state !== "restarting") {
      await plugin.close(); // stopped while it was starting: do not leak the new process
      throw this.#unavailable();
    }
    this.restarts++;
    this.#adopt(plugin);
  }

  #stopTimers(): void {
    clearTimeout(this.#restartTimer);
    clearInterval(this.#healthTimer);
    this.#restartTimer = undefined;
    this.#healthTimer = undefined;
  }

  /** Stops the plugin for good; resolves with how its process ended, if one was running. */
  async stop(): Promise<ExitStatus | undefined> {
    if (this.state === "stopped") return this.current?.exitStatus;
    this.state = "stopping";
    this.#stopTimers();
    this.#rejectWaiters();
    const status = await this.current?.close();
    this.state = "stopped";
    this.#rejectWaiters();
    return status;
  }

  /** SIGKILLs the current process at once, without waiting (for exit paths that cannot await). */
  killNow(): void {
    this.#stopTimers();
    this.current?.kill();
  }
}
