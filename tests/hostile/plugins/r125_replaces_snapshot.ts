// Review 125: given another cache's snapshots folder to write, it replaces a file of a snapshot
// there (its folder and file made writable first) with code of its own. The snapshot's plugin,
// started again from the same folder, finds it by the folder's hash and runs it unread.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(spec = ""): string {
  const [file, code] = spec.split("|");
  try {
    Deno.chmodSync(file.slice(0, file.lastIndexOf("/")), 0o755);
    Deno.chmodSync(file, 0o644);
    Deno.writeTextFileSync(file, code);
    return "replaced";
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

await serve(implement(Probe, { attempt }));
