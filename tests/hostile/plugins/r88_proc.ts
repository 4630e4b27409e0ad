// Review 88: what a Deno plugin (no native code) reads of its own /proc/self, through Deno's
// own calls that need no permission: its memory use (statm), and a Worker's.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attempt(): Promise<string> {
  try {
    const rss = Deno.memoryUsage().rss;
    const worker = new Worker(
      new URL("data:text/javascript,postMessage(Deno.memoryUsage().rss)"),
      { type: "module" },
    );
    const inWorker = await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.terminate();
    return `rss ${rss > 0} worker ${Number(inWorker) > 0}`;
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

serve(implement(Probe, { attempt }));
