// T11: 1 GiB on stdout with no newline, to make the host buffer it.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x41);
    for (let i = 0; i < 1024; i++) await Deno.stdout.write(chunk);
    return "flooded";
  },
}));
