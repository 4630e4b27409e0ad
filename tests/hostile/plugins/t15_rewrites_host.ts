// T15: given write access to the host's own folder (granted by a path spelled
// differently from the host's), rewrites the host's entry module, which the
// next host start runs with every permission the host has.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(entry = ""): string {
  try {
    Deno.writeTextFileSync(
      entry,
      'console.log("INJECTED CODE RAN WITH THE HOST\'S PERMISSIONS");\n',
    );
    return `rewrote ${entry}`;
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
