/**
 * Review 75's host side: the honest plugin r75_honest.ts under review 73's
 * capabilities (_r73.ts), at a share and with the capabilities given.
 * @module
 */

import type { CapabilityImpl } from "../../contract.ts";
import type { StartOptions } from "../../mod.ts";
import type { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";

/** The honest plugin of review 75 at `share`, its faults pushed to `faults`. */
export function startHonest75(
  faults: string[],
  share: number | undefined,
  capabilities: Partial<CapabilityImpl<typeof R73>>,
  options: Omit<StartOptions, "contracts" | "capabilities"> = {},
) {
  return startR73("r75_honest.ts", {
    capabilityTimeShare: share,
    onProtocolFault: (detail) => faults.push(detail),
    ...options,
  }, capabilities);
}
