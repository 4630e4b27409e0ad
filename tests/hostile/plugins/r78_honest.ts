// Review 78: an honest plugin, through the SDK only: documents read at once, each worked on
// synchronously as it arrives (an indexer's parse), or a synchronous step while they come.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R73 } from "./r73_contract.ts";

/** Works synchronously for `ms` (a parse, a hash: the plugin's own CPU). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* work */ }
}

await serve(implement(R73, {
  attempt: async (mode = "", { host }) => {
    const [kind, calls = "0", ms = "0"] = mode.split(":");
    let first = true;
    const reads = Array.from(
      { length: Number(calls) },
      (_, i) =>
        host.read(`doc${i}`).then((document) => {
          // "work": each document worked on as it arrives; "sync": one long step on the first.
          if (kind === "work" || (kind === "sync" && first)) busy(Number(ms));
          first = false;
          return document.length;
        }),
    );
    const read = await Promise.allSettled(reads);
    const failed = read.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
    return failed.length === 0
      ? `read ${read.length}`
      : `${failed.length} of ${read.length} failed: ${failed[0].reason}`;
  },
}));
