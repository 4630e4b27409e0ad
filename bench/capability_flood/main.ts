/**
 * The flooder for the capability-cost benchmark: through the SDK only, on
 * `capflood.run(n)`, `n` callers send valid 2 MiB arguments (a string: a
 * copy for the plugin, while the host reads, scans and parses every byte)
 * to the host's `take` capability, each as soon as its last was answered,
 * until it is killed.
 * @module
 */

import { implement, serve } from "@plugbox/plugbox/plugin";
import { CapFlood } from "./contract.ts";

// Cheap to send (a copy) and dear to take: the host reads, scans and parses every byte.
const value = "v".repeat(2 * 1024 * 1024 - 256);

await serve(implement(CapFlood, {
  run: async (callers, { host }) => {
    // A negative count: 64 callers of an argument of that many bytes (the per-call cost).
    const sent = callers < 0 ? value.slice(0, -callers) : value;
    await Promise.all(Array.from({ length: callers < 0 ? 64 : callers }, async () => {
      for (;;) await host.take(sent);
    }));
    return 0;
  },
}));
