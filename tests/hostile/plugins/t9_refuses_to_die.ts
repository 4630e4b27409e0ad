// T9: ignores SIGTERM, SIGINT, SIGHUP and stdin EOF, and keeps a core busy.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => console.error(`ignoring ${signal}`));
}
await serve(implement(Probe, { attempt: () => "alive" }), { exitOnClose: false });
console.error("stdin closed; staying alive");
let spin = 0;
while (true) {
  spin++;
  // Yield now and then so the signal listeners run (and print), proving they fired.
  if (spin % 50_000_000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
}
