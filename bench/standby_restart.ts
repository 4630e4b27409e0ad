/**
 * Restart after a crash with a hot standby (`hotStandby: true`) against the
 * same restart without one: the time from the crash (SIGKILL of the
 * current process, as the OOM killer would) to the first completed call on
 * the new process. Both sides run the hello plugin under the Deno layer in
 * a `PluginHost` with no backoff delay (`backoffInitialMs: 0`), so the floor
 * is a restart's start alone, not its policy's wait. With a standby, each
 * crash waits for the standby to be ready first (a standby still starting
 * restarts as without one). Rounds alternate which side goes first; each
 * sample pairs one round of each side.
 * @module
 */

import { PluginHost } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { median } from "./paired.ts";

const HELLO = new URL("../plugins/hello/main.ts", import.meta.url);

/** Both sides' medians (ms) and the paired ratios (standby on ÷ off), round by round. */
export interface StandbySample {
  on: number;
  off: number;
  ratios: number[];
}

/** Resolves when `check()` holds, on the host's events; rejects after `ms`. */
function whenEvent(events: EventTarget, check: () => boolean, ms: number, what: string) {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      if (!check()) return;
      clearTimeout(timer);
      events.removeEventListener("event", done);
      resolve();
    };
    const timer = setTimeout(() => {
      events.removeEventListener("event", done);
      reject(new Error(`bench: no ${what} within ${ms} ms`));
    }, ms);
    events.addEventListener("event", done);
    done();
  });
}

/** `crashes` crash-to-first-call times (ms) in one host, standby on or off. */
async function restartTimes(hotStandby: boolean, crashes: number): Promise<number[]> {
  const events = new EventTarget();
  await using host = new PluginHost({
    handleSignals: false,
    onEvent: () => events.dispatchEvent(new Event("event")),
  });
  const managed = await host.start("hello", HELLO, {
    contracts: [Greeter],
    isolation: "deno",
    hotStandby,
    healthIntervalMs: 0,
    backoffInitialMs: 0,
    maxRestarts: crashes + 1,
  });
  const greeter = host.api("hello", Greeter);
  const times: number[] = [];
  for (let i = 0; i < crashes; i++) {
    if (hotStandby) {
      await whenEvent(events, () => managed.standbyPid !== undefined, 30_000, "standby");
    }
    const old = managed.current!.pid;
    const t0 = performance.now();
    Deno.kill(old, "SIGKILL");
    await whenEvent(
      events,
      () => managed.current !== undefined && managed.current.pid !== old,
      30_000,
      "restart",
    );
    await greeter.sayHello("a");
    times.push(performance.now() - t0);
  }
  return times;
}

/** `rounds` rounds of `crashes` crashes per side, the side going first alternating. */
export async function standbyRestart(
  sizes: { rounds: number; crashes: number },
): Promise<StandbySample> {
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < sizes.rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const standby of order) {
      (standby ? on : off).push(median(await restartTimes(standby, sizes.crashes)));
    }
  }
  return { on: median(on), off: median(off), ratios: on.map((t, i) => t / off[i]) };
}
