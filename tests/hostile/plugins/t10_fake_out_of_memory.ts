// T9/T10: prints V8's out-of-memory words and exits with 133, to pass a plain exit off as one.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    console.error("# Fatal JavaScript out of memory: Reached heap limit");
    Deno.exit(133);
  },
}));
