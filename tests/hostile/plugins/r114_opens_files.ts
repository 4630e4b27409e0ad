// Review 114's item: opens the file it is granted to read, again and again, holding each, until
// one more open is refused (at most the number asked): how many files it may hold open at once.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const held: Deno.FsFile[] = [];

function attempt(what = ""): string {
  const [path, most] = what.split("|");
  try {
    while (held.length < Number(most)) held.push(Deno.openSync(path));
    return `opened ${held.length}`;
  } catch (error) {
    return `opened ${held.length}, then ${(error as Error).name}`;
  }
}

serve(implement(Probe, { attempt }));
