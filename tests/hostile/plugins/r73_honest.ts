// Review 73: an honest plugin, through the SDK only: each mode is ordinary use.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R73 } from "./r73_contract.ts";

await serve(implement(R73, {
  attempt: async (mode = "", { host }) => {
    const [kind, calls = "0", size = "0"] = mode.split(":");
    if (kind === "burst") {
      // Values stored at once, as a batch job does: every call in flight together.
      const value = "v".repeat(Number(size));
      const stored = await Promise.allSettled(
        Array.from({ length: Number(calls) }, (_, i) => host.store(`k${i}`, value)),
      );
      const failed = stored.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
      return failed.length === 0
        ? `stored ${stored.length}`
        : `${failed.length} of ${stored.length} failed: ${failed[0].reason}`;
    }
    if (kind === "list") {
      // Review 74: listings fetched at once, as an indexer does (the SDK keeps within its limits).
      const listed = await Promise.allSettled(
        Array.from(
          { length: Number(calls) },
          (_, i) => host.list(`dir${i}`).then((records) => records.length),
        ),
      );
      const failed = listed.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
      return failed.length === 0
        ? `listed ${listed.length}`
        : `${failed.length} of ${listed.length} failed: ${failed[0].reason}`;
    }
    if (kind === "read") {
      // Review 74: documents read at once, as an indexer does (the SDK keeps within its limits).
      const read = await Promise.allSettled(
        Array.from({ length: Number(calls) }, (_, i) => host.read(`doc${i}`)),
      );
      const failed = read.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
      return failed.length === 0
        ? `read ${read.length}`
        : `${failed.length} of ${read.length} failed: ${failed[0].reason}`;
    }
    return "unknown mode";
  },
}));
