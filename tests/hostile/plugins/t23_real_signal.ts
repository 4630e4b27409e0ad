// T23: dies by a real signal (SIGTRAP, V8's end on a heap limit) or exits
// with the code bubblewrap would report for one (133 = 128 + 5).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: (how) => {
    if (how === "exit") Deno.exit(133);
    const hoard: string[][] = [];
    while (true) hoard.push(Array.from({ length: 1000 }, (_, i) => `item ${i} ${Math.random()}`));
  },
}));
