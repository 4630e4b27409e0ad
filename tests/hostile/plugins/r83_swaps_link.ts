// Review 83: given a folder to write that holds links it could not have made (Deno refuses it
// one), each leading inside the grant now, it moves one link (to the grant's top) in place of a
// folder another link climbs out of with "..": the kernel climbs from where the moved link
// leads, not from the folder it replaced. Then it reads through the other link.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(spec = ""): string {
  const [from, to, read] = spec.split("|");
  try {
    try {
      Deno.removeSync(to); // an empty folder the other link's spelling passes through, if any
    } catch { /* missing: the other link dangles there */ }
    Deno.renameSync(from, to);
    return Deno.readTextFileSync(read).split("\n")[0];
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

await serve(implement(Probe, { attempt }));
