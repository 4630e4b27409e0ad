// T11: lines that hold only white space, written as fast as the pipe takes them, for 10 s: the
// host reads each at once, never waiting, so its event loop must still turn (review 57).
// "spaces" are JSON's own blank lines (ignored); "ideographic" ones (U+3000) are stray output.
// "cancels" cancel a call that is not in progress: each line is allowed, and does nothing.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const FLOODS: Record<string, string> = {
  spaces: " \n",
  ideographic: "\u3000\n",
  cancels: '{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"never-asked"}}\n',
};

await serve(implement(Probe, {
  attempt: (kind = "spaces") => {
    const until = Date.now() + 10_000;
    const bytes = new TextEncoder().encode(FLOODS[kind].repeat(32768));
    while (Date.now() < until) {
      for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
    }
    return "flooded";
  },
}));
