// Review 124: a plugin whose method calls a host capability that calls the plugin's method
// again (unbounded recursion through the host), and a stream whose every item waits on a
// capability that re-enters the plugin.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R124 } from "./r124_reenter_contract.ts";

serve(implement(R124, {
  dive: async (n, ctx) => await ctx.host.deeper(n),
  async *items(n, ctx) {
    for (;;) yield await ctx.host.deeper(n);
  },
  ping: () => "pong",
}));
