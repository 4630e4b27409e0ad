// Review 102: runs the program its run grant names (r102_escape.c, built by the test) with the
// words it is given, waits for it, and says how it ended: the program leaves its escapee behind.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(what = ""): Promise<string> {
  const [first, ...rest] = what.split(" ");
  // "exit …": runs the program with the plugin's own stdout and stderr, then the plugin exits.
  const exits = first === "exit";
  const [program, ...args] = exits ? rest : [first, ...rest];
  const streams = exits ? "inherit" : "null";
  const { code } = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: streams,
    stderr: streams,
  }).output();
  if (exits) Deno.exit(3);
  return `ran ${code}`;
}

await serve(implement(Probe, { attempt: attack }));
