// Review 81: given a folder to write that holds a link it could not have made (Deno refuses it
// one) and that leads inside the grant now, it makes the link lead out: the missing folder of a
// dangling link made, a folder the host could not list made readable, or a link relative with
// "../" moved higher. Then it reads through the link.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(spec = ""): string {
  const [action, target, read] = spec.split("|");
  try {
    if (action === "mkdir") Deno.mkdirSync(target);
    if (action === "chmod") Deno.chmodSync(target, 0o755);
    if (action === "move") Deno.renameSync(target, read.slice(0, read.lastIndexOf("/")));
    return Deno.readTextFileSync(read).split("\n")[0];
  } catch (error) {
    return `refused: ${(error as Error).name}`;
  }
}

await serve(implement(Probe, { attempt }));
