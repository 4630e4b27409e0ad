// Review 65: an honest plugin, through the SDK only: each mode is ordinary use.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R65 } from "./r65_contract.ts";

await serve(implement(R65, {
  double: (n) => n * 2,
  attempt: async (mode = "", { host, progress }) => {
    const [kind, arg = "0", arg2 = "0"] = mode.split(":");
    const n = Number(arg);
    if (kind === "stamp") {
      // A note per item, timestamped: the SDK's check passes (a Date), the host's fails.
      let failed = 0;
      for (let i = 0; i < n; i++) await host.stamp({ at: new Date() }).catch(() => failed++);
      return `${failed} of ${n} failed`;
    }
    if (kind === "note") {
      let failed = 0;
      for (let i = 0; i < n; i++) await host.note([1, undefined, 3]).catch(() => failed++);
      return `${failed} of ${n} failed`;
    }
    if (kind === "big") {
      // Large arguments, within the line cap the host told it: a value to store, say.
      let failed = 0;
      const text = "z".repeat(Number(arg2));
      for (let i = 0; i < n; i++) await host.size(text).catch(() => failed++);
      return `${failed} of ${n} failed`;
    }
    if (kind === "fan") {
      // Many capability calls at once (a crawler's fetches, say).
      const each = await Promise.all(Array.from({ length: n }, (_, i) => host.hold(i)));
      return String(each.length);
    }
    if (kind === "report") {
      // Progress per item of a fast loop, with a turn every 1,024 items.
      const pad = "p".repeat(Number(arg2));
      for (let i = 0; i < n; i++) {
        progress({ done: i, total: n, note: pad });
        if (i % 1024 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return `reported ${n}`;
    }
    return "unknown mode";
  },
}));
