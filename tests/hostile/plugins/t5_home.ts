// T5: what a plugin learns and uses as its home folder (npm reads ~/.npmrc
// there even with --no-config; a sys "homedir" grant reveals the path).
import { homedir } from "node:os";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(): string {
  return `home is ${homedir()}`;
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
