// Review 110: given a folder to write, it leaves an executable there under a program's name
// (`python3`). Where that folder is on the host's PATH, the host runs it next time it looks the
// program up: plugbox itself asks the host's `python3` where its library lies, outside any sandbox.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(spec = ""): string {
  const [path, text] = spec.split("|");
  try {
    Deno.writeTextFileSync(path, text, { mode: 0o755 });
    return "planted";
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

await serve(implement(Probe, { attempt }));
