// T9: exits with 137 to look as if it had been killed by SIGKILL.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    console.error("pretending to be killed");
    Deno.exit(137);
  },
}));
