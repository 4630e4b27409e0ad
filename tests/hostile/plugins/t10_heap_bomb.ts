// T10: grows the V8 heap until something stops it.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    const hoard: string[][] = [];
    while (true) hoard.push(Array.from({ length: 1000 }, (_, i) => `item ${i} ${Math.random()}`));
  },
}));
