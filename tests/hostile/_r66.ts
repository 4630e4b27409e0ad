/**
 * The host side of the review plugins that serve `R66` (r66_raw.ts,
 * r66_honest.ts, r71_raw.ts): the capabilities a host might offer, each
 * replaceable by a test, under the Deno layer, with a stop that does not
 * wait (the attackers never end on their own).
 * @module
 */

import { provide, type StartOptions, startPlugin } from "../../mod.ts";
import type { CapabilityImpl } from "../../contract.ts";
import { R66 } from "./plugins/r66_contract.ts";
import { hostile } from "./_hostile.ts";

/** What the host's capabilities do unless a test says otherwise: each answers at once. */
const ANSWERS: CapabilityImpl<typeof R66> = {
  hold: (n) => n,
  size: (s) => s.length,
  touch: (o) => o.n,
  now: () => 0,
  store: (_key, value) => value.length,
};

/** Starts the review plugin `plugin` serving `R66`, with `options` and the capabilities given. */
export function startR66(
  plugin: string,
  options: Omit<StartOptions, "contracts" | "capabilities"> = {},
  capabilities: Partial<CapabilityImpl<typeof R66>> = {},
) {
  return startPlugin(hostile(plugin), {
    contracts: [R66],
    capabilities: [provide(R66, { ...ANSWERS, ...capabilities })],
    isolation: "deno",
    stopGraceMs: 200,
    stopTermMs: 200,
    ...options,
  });
}
