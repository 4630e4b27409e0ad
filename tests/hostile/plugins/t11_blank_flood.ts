// T11: lines that hold only white space, written as fast as the pipe takes them, for 10 s: the
// host reads each at once, never waiting, so its event loop must still turn (review 57).
// "spaces" are JSON's own blank lines (ignored); "ideographic" ones (U+3000) are stray output.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: (kind = "spaces") => {
    const line = kind === "ideographic" ? "\u3000\n" : " \n";
    const bytes = new TextEncoder().encode(line.repeat(32768));
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
    }
    return "flooded";
  },
}));
