// Review 143: runs the program its run grant names (r143_kernel.c, built by the test) with the
// words it is given and answers with what the program printed: one `name=outcome` line per call.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(what = ""): Promise<string> {
  const [program, ...args] = what.split(" ");
  const { stdout, code, signal } = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return `${new TextDecoder().decode(stdout)}end=${code} ${signal ?? ""}`;
}

await serve(implement(Probe, { attempt: attack }));
