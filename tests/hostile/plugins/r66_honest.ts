// Review 66: an honest plugin, through the SDK only: each mode is ordinary use.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R66 } from "./r66_contract.ts";

await serve(implement(R66, {
  double: (n) => n * 2,
  attempt: async (mode = "", { host }) => {
    const [kind, arg = "0", arg2 = "0"] = mode.split(":");
    if (kind === "extra") {
      // A record passed on whole: its members the contract does not name travel too.
      let sum = 0;
      for (let i = 0; i < Number(arg); i++) {
        sum += await host.touch({ n: 1, label: `item ${i}`, tags: ["a", "b"] } as { n: number });
      }
      return `sum ${sum}`;
    }
    if (kind === "bulk") {
      // Many large values stored at once (a sync's uploads, say), each its own call.
      const value = "v".repeat(Number(arg2));
      const stored = Promise.all(
        Array.from({ length: Number(arg) }, (_, i) => host.store(`key ${i}`, value)),
      );
      // Once what the SDK sent at once is written (writes block: the host has read it), say so.
      await new Promise((resolve) => setTimeout(resolve, 0));
      console.error("bulk written");
      return `stored ${(await stored).length}`;
    }
    return "unknown mode";
  },
}));
