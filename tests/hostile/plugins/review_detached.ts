// Review: with an acknowledged run grant, a child started detached (its own
// session and process group) is outside the group plugbox kills on stop; an
// orphan (its parent, detached too, exits at once) is outside the plugin's
// process tree as well.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(what = ""): string {
  const [kind, marker = ""] = what.split(" ");
  if (kind === "orphan") return orphan(marker);
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

/**
 * A detached child that starts a detached grandchild holding `marker` and
 * exits: the grandchild's parent is then init. The child gets the marker
 * reversed, so that only the grandchild's command line holds it.
 */
function orphan(marker: string): string {
  const spawn = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args,
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const grandchild = `new Deno.Command(Deno.execPath(), {
    args: ["eval", "setInterval(() => {}, 1000)", [...Deno.args[0]].reverse().join("")],
    detached: true, stdin: "null", stdout: "null", stderr: "null",
  }).spawn().unref();`;
  const child = spawn(["eval", grandchild, [...marker].reverse().join("")]);
  child.unref();
  return `started ${child.pid}`;
}

await serve(implement(Probe, { attempt: attack }));
