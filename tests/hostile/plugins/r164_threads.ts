// Review 164: a Deno plugin granted nothing that makes threads (Workers, each a thread of its own)
// until one more is refused, and holds them: "workers:<n>" at most n of them. Anything else is an
// honest call, answered at once: "answered <what>".
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const held: Worker[] = [];
const SOURCE = "data:text/javascript,postMessage(0);setInterval(()=>{},1e9)";

async function attempt(what = ""): Promise<string> {
  const [kind, arg] = what.split(":");
  if (kind !== "workers") return `answered ${what}`;
  try {
    while (held.length < Number(arg)) {
      const worker = new Worker(SOURCE, { type: "module" });
      await new Promise((resolve, reject) => {
        worker.onmessage = resolve;
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(event.message));
        };
      });
      held.push(worker);
    }
    return `workers: ${held.length}`;
  } catch (error) {
    return `workers: ${held.length}, then ${(error as Error).message}`;
  }
}

serve(implement(Probe, { attempt }));
