// T10: ArrayBuffers past the memory limit, outside any call, and not caught:
// the allocation failure ends the process (as exit code 1, left to itself).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: () => {
    setTimeout(() => {
      const hoard: ArrayBuffer[] = [];
      while (true) hoard.push(new ArrayBuffer(64 * 1024 * 1024));
    }, 0);
    return "armed";
  },
}));
