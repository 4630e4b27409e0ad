// Review 76: an honest plugin, through the SDK only: stores at once, each retried while the host
// answers "overloaded" (what that error asks for), after a pause.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R73 } from "./r73_contract.ts";

await serve(implement(R73, {
  attempt: async (mode = "", { host }) => {
    const [, calls = "0", size = "0", pauseMs = "0", tries = "0"] = mode.split(":");
    // `calls` values of `size` stored at once; an overloaded one is tried again after `pauseMs`,
    // up to `tries` times in all.
    const value = "v".repeat(Number(size));
    let refused = 0;
    const store = async (i: number) => {
      for (let attempt = 1;; attempt++) {
        try {
          return await host.store(`k${i}`, value);
        } catch (error) {
          if (!String(error).includes("Overloaded") || attempt >= Number(tries)) throw error;
          refused++;
          await new Promise((resolve) => setTimeout(resolve, Number(pauseMs)));
        }
      }
    };
    const stored = await Promise.allSettled(
      Array.from({ length: Number(calls) }, (_, i) => store(i)),
    );
    const failed = stored.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
    return failed.length === 0
      ? `stored ${stored.length} (${refused} refused on the way)`
      : `${failed.length} of ${stored.length} failed: ${failed[0].reason}`;
  },
}));
