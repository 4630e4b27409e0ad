// The audit log: a plugin under audit goes after its own audit file, to read
// it, forge entries in it, close it (so later checks go unrecorded), or grow
// it without bound. Each attempt says what it got.
import net from "node:net";
import tty from "node:tty";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

// A line Deno wrote (its own forged lines, echoed back by an internal socket pair, do not count).
const AUDIT_LINE = /"datetime":"\d{4}-/;
const FDS = Array.from({ length: 61 }, (_, i) => i + 3);

/** Reads a path, keeping what looks like an audit line. */
async function readAudit(path: string, leaked: string[]): Promise<void> {
  try {
    const text = await Deno.readTextFile(path);
    if (AUDIT_LINE.test(text)) leaked.push(`${path}: ${text.slice(0, 200)}`);
  } catch {
    // refused, or not there
  }
}

/** Wraps every descriptor node can wrap: reads what comes, writes a forged line, closes it. */
async function throughDescriptors(leaked: string[]): Promise<number> {
  let wrapped = 0;
  const sockets: net.Socket[] = [];
  for (const fd of FDS) {
    try {
      const socket = new net.Socket({ fd, readable: true, writable: true });
      socket.on("error", () => {});
      socket.on("data", (data) => {
        if (AUDIT_LINE.test(String(data))) leaked.push(`fd ${fd}: ${String(data).slice(0, 200)}`);
      });
      socket.write(`{"v":1,"datetime":"x","permission":"read","value":"/forged/${fd}"}\n`);
      sockets.push(socket);
      wrapped++;
    } catch {
      // not a descriptor node will wrap
    }
    try {
      const stream = new tty.WriteStream(fd);
      stream.on("error", () => {});
      stream.write(`{"v":1,"datetime":"x","permission":"read","value":"/forged/tty${fd}"}\n`);
      wrapped++;
    } catch {
      // not a terminal
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const socket of sockets) socket.destroy();
  return wrapped;
}

async function attack(what = ""): Promise<string> {
  const [mode, target = ""] = what.split(" ");
  const leaked: string[] = [];
  let wrapped = 0;
  switch (mode) {
    case "fds":
      wrapped = await throughDescriptors(leaked);
      for (const fd of FDS) {
        for (
          const dir of ["/proc/self/fd", "/dev/fd", "/proc/thread-self/fd", `/proc/${Deno.pid}/fd`]
        ) {
          await readAudit(`${dir}/${fd}`, leaked);
        }
      }
      break;
    case "folder":
      // Where plugbox keeps audit files: list it and read what is there.
      try {
        for await (const entry of Deno.readDir(target)) {
          await readAudit(`${target}/${entry.name}`, leaked);
        }
      } catch (error) {
        leaked.push(`(listing refused: ${(error as Error).name})`);
      }
      break;
    case "links":
      for (const fd of FDS) await readAudit(`${target}/fd${fd}`, leaked);
      break;
    case "flood":
      for (let i = 0;; i++) {
        try {
          Deno.env.get(`FLOOD_${i}`);
        } catch {
          // each check is a line in the audit
        }
      }
  }
  // A check after the attack: the audit must still see it.
  try {
    Deno.env.get("AFTER_THE_ATTACK");
  } catch {
    // denied, and recorded
  }
  return JSON.stringify({ leaked: leaked.filter((l) => !l.startsWith("(")), wrapped });
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
