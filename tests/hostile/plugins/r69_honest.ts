// Review 69: an honest plugin, through the SDK only: each mode is ordinary use.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R69 } from "./r69_contract.ts";

await serve(implement(R69, {
  double: (n) => n * 2,
  attempt: async (mode = "", { host }) => {
    const [kind, calls = "0", size = "0"] = mode.split(":");
    if (kind === "distinct") {
      // A page of tags, deduplicated by the host, once per page.
      const tags = Array.from({ length: Number(size) }, (_, i) => `t${i % 100}`);
      let total = 0;
      for (let i = 0; i < Number(calls); i++) total += await host.distinct(tags);
      return `distinct ${total}`;
    }
    if (kind === "save") {
      // Records passed on whole, each with its history the contract does not name.
      const history = Array.from({ length: Number(size) }, (_, i) => i);
      let total = 0;
      for (let i = 0; i < Number(calls); i++) {
        total += await host.save({ id: 1, history } as { id: number });
      }
      return `saved ${total}`;
    }
    if (kind === "send") {
      // One value sent, not waited for: the answer to this call follows its line.
      host.store("k", "v".repeat(Number(size))).catch(() => {});
      return "sent";
    }
    if (kind === "burst") {
      // Values stored at once, as a batch job does: every call in flight together.
      const value = "v".repeat(Number(size));
      const stored = await Promise.all(
        Array.from({ length: Number(calls) }, (_, i) => host.store(`k${i}`, value)),
      );
      return `stored ${stored.length}`;
    }
    return "unknown mode";
  },
}));
