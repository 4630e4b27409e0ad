// Review 113: given a folder to write, it puts an executable there under a program's name
// (`python3`), in place of whatever was there: a file, or a link on the way to one. Where a link on
// the host's PATH leads through that folder, the host runs it next time it looks the program up.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(spec = ""): string {
  const [path, text] = spec.split("|");
  try {
    Deno.removeSync(path); // a link is replaced, not written through
    Deno.writeTextFileSync(path, text, { mode: 0o755 });
    return "planted";
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

await serve(implement(Probe, { attempt }));
