// T12: opens the controlling terminal, which a plugin must not have.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(): string {
  try {
    const tty = Deno.openSync("/dev/tty", { read: true, write: true });
    tty.close();
    return "opened the host's terminal";
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.log(attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
