/**
 * The host side of review 69's honest plugin (r69_honest.ts, SDK only):
 * `R69`'s capabilities answering at once, `store` as a test says.
 * @module
 */

import { provide, type StartOptions, startPlugin } from "../../mod.ts";
import { R69 } from "./plugins/r69_contract.ts";
import { hostile } from "./_hostile.ts";

/** Starts r69_honest.ts under the Deno layer, with `options` and the host's `store`. */
export function startR69Honest(
  options: Omit<StartOptions, "contracts" | "capabilities"> = {},
  store: (key: string, value: string) => number = (_key, value) => value.length,
) {
  return startPlugin(hostile("r69_honest.ts"), {
    contracts: [R69],
    capabilities: [provide(R69, {
      distinct: (tags) => tags.size,
      save: (record) => record.id,
      log: () => 0,
      store,
    })],
    isolation: "deno",
    ...options,
  });
}
