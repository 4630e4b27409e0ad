// Review 136: a plugin that ignores SIGTERM, SIGINT, SIGHUP and its stdin's end, and, asked, leaves
// the processes of the program its run grant names (r136_child.c): one that stays its child and one
// that double-forks away. Each ignores the same signals.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {});
}

function leave(what = ""): string {
  const [program, marker] = what.split(" ");
  for (const move of ["stay", "escape"]) {
    new Deno.Command(program, {
      args: [move, marker],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }
  return "left";
}

await serve(implement(Probe, { attempt: leave }), { exitOnClose: false });
setInterval(() => {}, 60_000); // stdin's end ends nothing
