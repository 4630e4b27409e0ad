// Review 85: besides its work, reads one path of 1,500 control characters (denied, and recorded
// by Deno's audit), which neutralize() makes 6,000 characters long in the audit entry.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    try {
      Deno.readTextFileSync(`/tmp/${"\x01".repeat(250)}/`.repeat(6) + "x");
    } catch {
      // denied: the point is the audit's record of it
    }
    return "done";
  },
}));
