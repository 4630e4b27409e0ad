// Review 85: writes the path of the folder it runs from to stderr, as a plain line and then
// exits, so the host's stderr tail holds it too. Copied into a folder whose name is the attack.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const here = decodeURIComponent(new URL(".", import.meta.url).pathname);
const say = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${text}\n`));

await serve(implement(Probe, {
  attempt: () => {
    say(`running in ${here}`);
    Deno.exit(3);
    return "";
  },
}));
