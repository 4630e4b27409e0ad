/**
 * Review 74's host side: review 73's measure (_r73.ts) of what one mode of
 * r73_raw.ts costs a host giving its capability calls `share` of its thread.
 * @module
 */

import type { CapabilityImpl } from "../../contract.ts";
import { R73 } from "./plugins/r73_contract.ts";
import { type Cost, measure, startR73 } from "./_r73.ts";

/** What `attempt(mode)` of r73_raw.ts costs a host giving its calls `share` of its thread. */
export async function flood(
  mode: string,
  share: number,
  capabilities: Partial<CapabilityImpl<typeof R73>> = {},
) {
  const faults: string[] = [];
  let calls = 0;
  const counted = <T>(value: T) => (calls++, value);
  await using plugin = await startR73("r73_raw.ts", {
    capabilityTimeShare: share,
    onProtocolFault: (detail) => faults.push(detail),
  }, {
    now: () => counted(0),
    touch: (o) => counted(o.n),
    size: (s) => counted(s.length),
    ...capabilities,
  });
  const cost = await measure(
    plugin.pid,
    () => plugin.api(R73, { timeout: 60_000 }).attempt(mode).then(String, String),
  );
  return { cost, faults, calls, exit: plugin.exitStatus };
}

/**
 * The most of its main thread a host may give calls at `share` over `cost.wall` (review 73's
 * bound): the burst (the share of 400 ms), the share, as much again for what no clock around a
 * call sees, the measure's own 1 ms ticker, and the granularity of the kernel's CPU counts. With
 * `owing`, also what the plugin's reading may owe before its calls are refused (the horizon).
 */
export function allowed(cost: Cost, share: number, owing = false): number {
  const horizon = owing ? Math.max(0.25, 4 * share) : 0;
  return horizon + 0.4 * share + 2 * share * cost.wall + 0.02 * cost.wall + 0.05;
}

/**
 * The honest plugin (r73_honest.ts, SDK only) at the default share, the host's `list` and `read`
 * asynchronous (a disk's or a database's wait) and answering `records` records or a document of
 * `documentBytes`.
 */
export function startHonest74(
  faults: string[],
  answers: { records?: number; documentBytes?: number },
) {
  const records = Array.from(
    { length: answers.records ?? 0 },
    (_, i) => ({ id: i, name: `file-${i}.txt`, tags: ["a", "b"] }),
  );
  const document = "d".repeat(answers.documentBytes ?? 0);
  const waited = () => new Promise((resolve) => setTimeout(resolve, 1));
  return startR73("r73_honest.ts", { onProtocolFault: (detail) => faults.push(detail) }, {
    list: async () => (await waited(), records),
    read: async () => (await waited(), document),
  });
}
