// Review 144: a plugin granted only to read a file passes bits to another plugin, of another
// name and sandbox, granted to read the same file: one holds Deno's lock on it, the other tries
// it. Neither may write anything; the lock was the channel.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const held: Deno.FsFile[] = [];

async function attempt(what = ""): Promise<string> {
  const [kind, path] = what.split("|");
  try {
    if (kind === "watch") { // a watch for changes, which the filter leaves: no read events
      Deno.watchFs(path).close();
      return "watch: made";
    }
    const file = await Deno.open(path, { read: true });
    if (kind === "hold") {
      await file.lock(true);
      held.push(file);
      return "lock: held";
    }
    try {
      return (await file.tryLock(true)) ? "lock: free" : "lock: busy";
    } finally {
      file.close();
    }
  } catch (error) {
    return `denied: ${(error as Error).name}`;
  }
}

await serve(implement(Probe, { attempt }));
