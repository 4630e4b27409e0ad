// T4: an npm: import computed at run time, invisible to the graph check.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(): Promise<string> {
  const name = ["npm:left", "pad"].join("-");
  try {
    await import(name);
    return "imported";
  } catch (error) {
    return `refused: ${String(error).split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
