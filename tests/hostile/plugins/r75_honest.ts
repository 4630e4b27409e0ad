// Review 75: an honest plugin, through the SDK only: each mode is ordinary use.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R73 } from "./r73_contract.ts";

/** "n of m failed: first reason", or what `ok` says. */
function told<T>(settled: PromiseSettledResult<T>[], ok: string): string {
  const failed = settled.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
  return failed.length === 0
    ? ok
    : `${failed.length} of ${settled.length} failed: ${failed[0].reason}`;
}

await serve(implement(R73, {
  attempt: async (mode = "", { host }) => {
    const [kind, a = "0", b = "0"] = mode.split(":");
    if (kind === "rounds") {
      // Batches one after the other, each fetched at once (an indexer's pages): `a` rounds of `b`.
      for (let round = 0; round < Number(a); round++) {
        const listed = await Promise.allSettled(
          Array.from({ length: Number(b) }, (_, i) => host.list(`dir${round}-${i}`)),
        );
        const said = told(listed, "");
        if (said) return `round ${round}: ${said}`;
      }
      return `listed ${a} rounds of ${b}`;
    }
    if (kind === "reads") {
      // Documents read in rounds of `b`, `a` rounds.
      for (let round = 0; round < Number(a); round++) {
        const read = await Promise.allSettled(
          Array.from({ length: Number(b) }, (_, i) => host.read(`doc${round}-${i}`)),
        );
        const said = told(read, "");
        if (said) return `round ${round}: ${said}`;
      }
      return `read ${a} rounds of ${b}`;
    }
    if (kind === "sequential") {
      // `a` stores one after the other, each awaited: the plainest use there is.
      for (let i = 0; i < Number(a); i++) {
        try {
          await host.store(`k${i}`, "v");
        } catch (error) {
          return `store ${i} failed: ${error}`;
        }
      }
      return `stored ${a}`;
    }
    return "unknown mode";
  },
}));
