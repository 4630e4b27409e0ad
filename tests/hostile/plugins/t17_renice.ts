// T17: setPriority is a sys grant that acts on other processes: it renices
// whichever process the plugin names (the host's, another plugin's), and
// with privilege it can raise their priority too.
import { setPriority } from "node:os";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(what = "0 19"): string {
  const [pid, nice] = what.split(" ").map(Number);
  try {
    setPriority(pid, nice);
    return `reniced ${pid} to ${nice}`;
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
