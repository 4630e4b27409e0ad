// T15: reads what it is given. Its attack, a link in its write grant aimed at the host's
// secrets, is made by the test for it: Deno refuses a plugin a symlink without full read and
// write (NotCapable), but a plugin in another language, or one granted a program, makes one
// freely in any folder it may write.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attempt(path = ""): string {
  try {
    return Deno.readTextFileSync(path).split("\n")[0];
  } catch (error) {
    return `refused: ${(error as Error).name}`;
  }
}

await serve(implement(Probe, { attempt }));
