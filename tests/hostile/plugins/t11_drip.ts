// T11: a line dripped one byte per write onto stdout or stderr ("stdout:8000"), with a pause
// after each, so that the host reads it a byte at a time: each read reaches the host as a view
// into a 64 KiB buffer, and a host that kept the views would hold 64 KiB per byte of the line
// (review 32). It never ends the line on stdout, says "dripped" on stderr, and blocks until it
// is killed.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const pause = new Int32Array(new SharedArrayBuffer(4));
await serve(implement(Probe, {
  attempt: (what) => {
    const [stream, bytes] = (what ?? "").split(":");
    const out = stream === "stderr" ? Deno.stderr : Deno.stdout;
    const space = new Uint8Array([0x20]);
    for (let i = 0; i < Number(bytes); i++) {
      out.writeSync(space);
      Atomics.wait(pause, 0, 0, 0.2); // long enough for the host to read each byte alone
    }
    Deno.stderr.writeSync(new TextEncoder().encode("dripped\n"));
    Atomics.wait(pause, 0, 0, 60_000);
    return "never";
  },
}));
