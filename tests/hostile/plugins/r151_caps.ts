// Review 151: a plugin written with the SDK that shows what the host's capability answers reach it
// through its own copy of the contract.
import { HostError, implement, serve } from "@plugbox/plugbox/plugin";
import { R151Plugin } from "./r151_contract.ts";

serve(implement(R151Plugin, {
  async ask(capability, arg, ctx) {
    try {
      const host = ctx.host as unknown as Record<string, (arg: unknown) => Promise<unknown>>;
      return JSON.stringify(await host[capability](arg));
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      return `${error.code} ${error.message}`;
    }
  },
  async flood(count, size, ctx) {
    let answered = 0;
    for (let i = 0; i < count; i++) {
      await ctx.host.site("x".repeat(size)).catch(() => {});
      answered++;
    }
    return answered;
  },
}));
