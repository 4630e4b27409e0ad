/**
 * The lifecycle of one managed plugin as one explicit state machine: every
 * state, every event, and what each transition does (spawn, kill, close,
 * wait). `ManagedPlugin` feeds it events and runs the actions it returns,
 * one step at a time (an event fed while a step's actions run, by a
 * listener those actions told, waits for that step to end); nothing else
 * changes a plugin's state. Any order or overlap of start, stop, restart,
 * crash and abort is a sequence of these events, so it ends in a state of
 * this table, with no process left behind a `stopped`.
 * @module
 */

/**
 * The machine's states. Three are `"restarting"` to the outside world:
 * `backoff` (waiting out a restart delay, no process), `respawning` (a new
 * process is being started) and `replacing` (a manual restart is closing
 * the old process first).
 */
export type LifeState =
  | "starting"
  | "running"
  | "backoff"
  | "respawning"
  | "replacing"
  | "stopping"
  | "stopped"
  | "failed";

/**
 * What can happen. `spawned` and `spawn-failed` end a start; `crashed` is an
 * exit nobody asked for (`final` when the policy or the crash budget says no
 * more restarts, and always after exit reason `"cpu-limit"`: a restart would
 * renew a used-up CPU budget; `promote` when a hot standby is ready to take
 * over); `closed` ends a close; `idle` says a stopping plugin has
 * no process and no start left; `restart` and `stop` are the user's (an
 * abort of the plugin's signal is a `stop`).
 */
export type LifeEvent =
  | "spawned"
  | "spawn-failed"
  | "spawn-failed-final"
  | "crashed"
  | "crashed-final"
  | "crashed-promote"
  | "backoff-elapsed"
  | "closed"
  | "idle"
  | "restart"
  | "stop";

/**
 * What a transition does, run in this order:
 * - `spawn`: start a new process (one at a time; it can be aborted), or take
 *   the ready hot standby when there is one
 * - `adopt`: make the process just started the current one; resolve waiting
 *   calls; with a hot standby, start the next standby in the background
 * - `promote`: count the crash (budget and backoff) and report it; `adopt`
 *   then makes the standby current at once, without a delay or a start
 * - `discard`: close the process just started (nobody wants it any more)
 * - `close`: close the current process (stop ladder), then `closed`
 * - `abort-spawn`: abort the start in progress (it kills its process), then `spawn-failed`
 * - `schedule`: wait the backoff delay, then `backoff-elapsed`
 * - `cancel-timer`: forget the backoff timer
 * - `fail`: record why, stop the timers, reject waiting calls, close the standby
 * - `end`: stop the timers, reject waiting calls, close the standby; `idle`
 *   follows once nothing is left (no process, no start, no standby)
 * - `finish`: resolve everyone waiting for the stop, then fail a start or restart still waiting
 * - `reject`: refuse the request (restart when stopping or stopped)
 */
export type LifeAction =
  | "spawn"
  | "adopt"
  | "promote"
  | "discard"
  | "close"
  | "abort-spawn"
  | "schedule"
  | "cancel-timer"
  | "fail"
  | "end"
  | "finish"
  | "reject";

/** One transition: the next state and the actions, in order. */
export interface LifeStep {
  to: LifeState;
  actions: readonly LifeAction[];
}

const step = (to: LifeState, ...actions: LifeAction[]): LifeStep => ({ to, actions });

/**
 * The whole machine. A pair that is missing cannot happen (the runner never
 * feeds it) or changes nothing: a `restart` during a start or a restart
 * joins it, a `stop` during a stop joins it.
 */
export const TRANSITIONS: Readonly<Record<LifeState, Partial<Record<LifeEvent, LifeStep>>>> = {
  starting: {
    "spawned": step("running", "adopt"),
    "spawn-failed": step("failed", "fail"),
    "spawn-failed-final": step("failed", "fail"),
    "stop": step("stopping", "end", "abort-spawn"),
  },
  running: {
    "crashed": step("backoff", "schedule"),
    "crashed-final": step("failed", "fail"),
    "crashed-promote": step("running", "promote", "adopt"),
    "restart": step("replacing", "close"),
    "stop": step("stopping", "end", "close"),
  },
  backoff: {
    "backoff-elapsed": step("respawning", "spawn"),
    "restart": step("respawning", "cancel-timer", "spawn"),
    "stop": step("stopping", "cancel-timer", "end"),
  },
  respawning: {
    "spawned": step("running", "adopt"),
    "spawn-failed": step("backoff", "schedule"),
    "spawn-failed-final": step("failed", "fail"),
    "stop": step("stopping", "end", "abort-spawn"),
  },
  replacing: {
    "closed": step("respawning", "spawn"),
    "stop": step("stopping", "end"),
  },
  stopping: {
    "spawned": step("stopping", "discard"),
    "idle": step("stopped", "finish"),
    "restart": step("stopping", "reject"),
  },
  stopped: {
    "restart": step("stopped", "reject"),
  },
  failed: {
    "restart": step("respawning", "spawn"),
    "stop": step("stopping", "end"),
  },
};

/**
 * The step for `event` in `state`, or `undefined` when it changes nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { next } from "./lifecycle.ts";
 * assert.deepEqual(next("running", "stop"), { to: "stopping", actions: ["end", "close"] });
 * assert.equal(next("stopped", "spawned"), undefined);
 * ```
 */
export function next(state: LifeState, event: LifeEvent): LifeStep | undefined {
  return TRANSITIONS[state][event];
}

/** How each state looks from outside (`ManagedPlugin.state`). */
export const PUBLIC_STATE = {
  starting: "starting",
  running: "running",
  backoff: "restarting",
  respawning: "restarting",
  replacing: "restarting",
  stopping: "stopping",
  stopped: "stopped",
  failed: "failed",
} as const satisfies Record<LifeState, string>;
