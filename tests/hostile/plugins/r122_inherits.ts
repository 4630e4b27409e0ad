/**
 * Asks the host for the capability `ask` names and answers with what the
 * host answered, as JSON, or with the error it got.
 * @module
 */

import { type HostError, hostOf, implement, serve } from "@plugbox/plugbox/plugin";
import { R122 } from "./r122_contract.ts";

await serve(implement(R122, {
  ask: async (name) => {
    const host = hostOf(R122);
    try {
      const got = name === "toString" ? await host.toString() : await host.valueOf();
      return `answered ${JSON.stringify(got)}`;
    } catch (error) {
      return `refused ${(error as HostError).message}`;
    }
  },
}));
