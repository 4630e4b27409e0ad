// T18: reaches the host's own service through a name that is not spelled like
// loopback but that the machine (its hosts file) resolves to it.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(url = ""): Promise<string> {
  try {
    return `fetched: ${await (await fetch(url)).text()}`;
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
