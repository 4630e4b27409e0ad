// Review 121: descriptors the host inherited from its own parent (a shell's `5<file`, a CI
// runner's pipe, a socket) reach every child Deno starts. A plugin granted nothing adopts one by
// number through node:net, which checks no permission for it, and reads what is in it.
import { Socket } from "node:net";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

/** What descriptor `fd` gives within a second: its data, or why nothing. */
function adopt(fd: number): Promise<string> {
  return new Promise((resolve) => {
    let socket: Socket;
    const done = (what: string) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(`${fd}: ${what}`);
    };
    const timer = setTimeout(() => done("nothing"), 1_000);
    try {
      socket = new Socket({ fd, readable: true, writable: false });
    } catch (error) {
      return done(`refused: ${(error as Error).message}`);
    }
    socket.on("data", (data) => done(`read ${String(data)}`));
    socket.on("error", (error) => done(`refused: ${error.message}`));
  });
}

async function attack(fds = "5,12"): Promise<string> {
  const seen = [];
  for (const fd of fds.split(",").map(Number)) seen.push(await adopt(fd));
  return seen.join("; ");
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args[0]));
  Deno.exit(0);
} else {
  await serve(implement(Probe, { attempt: attack }));
}
