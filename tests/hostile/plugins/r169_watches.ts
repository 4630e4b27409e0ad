// Review 169: a Deno plugin that makes inotify instances (each `Deno.watchFs` is one) on a path
// until one more is refused, and holds them: "watch:<n>:<path>" at most n of them ("" is its own
// folder). Anything else is an honest call, answered at once: "answered <what>".
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const held: Deno.FsWatcher[] = [];

function attempt(what = ""): string {
  const [kind, arg, path] = what.split(":");
  if (kind !== "watch") return `answered ${what}`;
  const where = path || new URL(".", import.meta.url).pathname;
  try {
    while (held.length < Number(arg)) held.push(Deno.watchFs(where));
    return `watch: ${held.length}`;
  } catch (error) {
    return `watch: ${held.length}, then ${(error as Error).name}: ${(error as Error).message}`;
  }
}

serve(implement(Probe, { attempt }));
