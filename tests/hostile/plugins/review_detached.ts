// Review: with an acknowledged run grant, a child started detached (its own
// session and process group) is outside the group plugbox kills on stop.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(what = ""): string {
  const [kind, marker = ""] = what.split(" ");
  if (kind !== "detach") return `unknown attempt ${kind}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "setInterval(() => {}, 1000)", marker],
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return `started ${child.pid}`;
}

await serve(implement(Probe, { attempt: attack }));
