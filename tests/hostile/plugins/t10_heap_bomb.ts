// T10: grows the V8 heap until something stops it, saying how far it got.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    const hoard: string[][] = [];
    let reported = 0;
    while (true) {
      hoard.push(Array.from({ length: 1000 }, (_, i) => `item ${i} ${Math.random()}`));
      const heap = Math.floor(Deno.memoryUsage().heapUsed / (1024 * 1024));
      if (heap >= reported + 8) {
        reported = heap;
        console.error(`heap ${heap} MiB`);
      }
    }
  },
}));
