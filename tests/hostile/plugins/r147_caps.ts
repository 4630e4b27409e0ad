// Review 147: a plugin written with the SDK that shows what the host's capability answers reach it
// (through its own copy of the contract, which keeps whatever comes), and that reports progress
// after it has answered (a reporter its handler left running).
import { HostError, implement, serve } from "@plugbox/plugbox/plugin";
import { R147Plugin } from "./r147_contract.ts";

let lateReports = 0;

serve(implement(R147Plugin, {
  async ask(key, ctx) {
    try {
      return JSON.stringify(await ctx.host.load(key));
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      return `${error.code} ${error.remoteName}: ${error.message}`;
    }
  },
  late(count, ctx) {
    let sent = 0;
    const timer = setInterval(() => {
      ctx.progress(sent);
      lateReports++;
      if (++sent >= count) clearInterval(timer);
    }, 10);
    return "answered";
  },
  async *count(n) {
    for (let i = 0; i < n; i++) yield i;
  },
  async *relay(n, ctx) {
    for (let i = 0; i < n; i++) {
      yield Number((await ctx.host.load(String(i)) as { name: string }).name);
    }
  },
  reported: () => lateReports,
}));
