// Review 85: writes stderr lines of 8 KiB that are all characters neutralize() escapes (a C0
// control is 1 byte and 4 characters escaped, U+200B is 3 bytes and 8), then exits on a call.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const encoder = new TextEncoder();
await serve(implement(Probe, {
  attempt: () => {
    Deno.stderr.writeSync(encoder.encode(`${"\x01".repeat(8192)}\n`));
    Deno.stderr.writeSync(encoder.encode(`${"\u200b".repeat(2730)}\n`));
    Deno.exit(3);
    return "";
  },
}));
