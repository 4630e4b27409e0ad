// T21: effects Deno's permissions do not see. With a write grant a plugin
// can leave set-UID or set-GID files and world-writable folders for someone
// else to run; what it can do to itself depends on its kernel credentials.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(what = ""): string {
  const [kind, path] = what.split(" ");
  try {
    switch (kind) {
      case "setuid": {
        Deno.writeTextFileSync(path, "#!/bin/sh\nid\n");
        Deno.chmodSync(path, 0o6755);
        return "made a set-UID, set-GID file";
      }
      case "world": {
        Deno.mkdirSync(path);
        Deno.chmodSync(path, 0o777);
        return "made a world-writable folder";
      }
      default:
        return `unknown attack "${what}"`;
    }
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
