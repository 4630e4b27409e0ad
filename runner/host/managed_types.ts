/**
 * The public shapes of a managed plugin: its restart policy, its states as
 * the outside sees them, its events, and its options.
 * @module
 */

import type { ExitStatus } from "../errors.ts";
import type { AuditEntry } from "./audit_log.ts";
import type { EgressEntry } from "./egress_log.ts";
import type { IsolationLayer } from "../sandbox/mod.ts";
import type { StartOptions } from "./start_options.ts";

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
 *   if (event.type === "standby" && event.change !== "ready") console.error(event.detail);
 * };
 * await using host = new PluginHost({ onEvent });
 * ```
 */
export type PluginEvent =
  | {
    type: "start";
    plugin: string;
    pid: number;
    isolation: IsolationLayer;
    restarts: number;
    /** The process was the hot standby, promoted (its start was done earlier). */
    standby: boolean;
  }
  | {
    type: "exit";
    plugin: string;
    /**
     * The process that exited, as its `start` event gave it: a plugin removed and a new one of
     * its name started at once report beside each other, under one name.
     */
    pid: number;
    status: ExitStatus;
    expected: boolean;
  }
  | {
    type: "restart";
    plugin: string;
    attempt: number;
    delayMs: number;
    reason: string;
    /** The hot standby takes over now (`delayMs` is 0): no process is started for it. */
    standby: boolean;
  }
  /** A hot standby is started and idle (`ready`), lost (failed to start or died idle), or no longer replaced (`off`). */
  | { type: "standby"; plugin: string; change: "ready"; pid: number }
  | { type: "standby"; plugin: string; change: "lost" | "off"; detail: string }
  | { type: "failed"; plugin: string; reason: string }
  | { type: "unresponsive"; plugin: string; detail: string }
  /**
   * Two pings in a row went unanswered while the machine was too loaded to
   * judge: the kernel saw the plugin wait runnable for a CPU and hardly run
   * (`side: "plugin"`), or this host's event loop wait for one (`"host"`).
   * Not counted as unresponsive, up to 3 windows in a row. Times in ms, over
   * the second ping's window.
   */
  | {
    type: "starved";
    plugin: string;
    side: "plugin" | "host";
    windowMs: number;
    ranMs: number;
    waitedMs: number;
    hostWaitedMs: number;
  }
  | { type: "fault"; plugin: string; detail: string }
  | { type: "audit"; plugin: string; entry: AuditEntry }
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
   * Calls made while restarting, or once plugbox has killed the running
   * process (a missed ping, a fault), wait for the restart (bounded by the
   * call's deadline) or fail at once with `PluginUnavailableError`.
   * @default {"wait"}
   */
  whileRestarting?: "wait" | "fail";
  /**
   * Interval between health pings in ms; 0 turns them off.
   * @default {10000}
   */
  healthIntervalMs?: number;
  /**
   * Deadline for each health ping, in ms. A missed ping is followed at once
   * by a second; two missed in a row restart the plugin (so a plugin stuck in
   * a loop is restarted within about `healthIntervalMs + 2 × healthTimeoutMs`,
   * and one only starved of CPU for a moment is not). A ping missed while
   * this host process was launching plugins (starts take the CPU) is not
   * counted: the next ping decides, up to 3 rounds in a row (another
   * plugin restarting in a loop would excuse a stuck one for good). Nor is
   * one where the kernel saw the plugin wait runnable for a CPU and hardly
   * run, or this host's event loop wait for one (a `starved` event), up to 3
   * windows in a row.
   * @default {5000}
   */
  healthTimeoutMs?: number;
  /**
   * Keep a hot standby: once the plugin runs, a second process of it is
   * started in the background (planned, spawned and handshaked like any
   * start) and held idle, answering no calls. A crash the restart policy
   * would restart promotes it at once, with no backoff delay (the crash
   * still counts in `maxRestarts` and in the backoff of a later restart
   * without a standby), and the next standby is started. A manual
   * `restart()` closes the current process, then promotes the standby. A
   * crash before the standby is ready restarts as without one.
   *
   * A standby that fails to start or dies while idle is discarded and
   * replaced, at most 3 times within `restartWindowMs`; after that none is
   * started until the window has room again (a `standby` event with `change:
   * "off"` says so). It never makes the plugin fail. `stop()`, the host's
   * close and signals, the abort of `signal`, and a plugin marked failed
   * close it too. With `restart: "never"` no standby is kept.
   *
   * The cost: twice the processes and memory per plugin, and the plugin's
   * top-level code runs before it is needed (side effects at import happen
   * earlier, and twice per restart cycle).
   * @default {false}
   *
   * @example
   * ```ts ignore
   * import { PluginHost } from "@plugbox/plugbox";
   * import { Greeter } from "./plugins/hello/contract.ts";
   *
   * await using host = new PluginHost({
   *   onEvent: (e) => e.type === "start" && e.standby && console.error(`promoted ${e.pid}`),
   * });
   * await host.start("hello", "./plugins/hello/main.ts", { contracts: [Greeter], hotStandby: true });
   * ```
   */
  hotStandby?: boolean;
  /**
   * Aborting stops the plugin for good, like `stop()`: a start or restart
   * in progress is cancelled and its process killed.
   */
  signal?: AbortSignal;
}
