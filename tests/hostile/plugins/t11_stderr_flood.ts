// T11: floods stderr with terminal escape sequences (clear screen, retitle, hyperlinks).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: async (megabytes = "64") => {
    const line = new TextEncoder().encode(
      "\x1b[2J\x1b[H\x1b]0;pwned title\x07\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ " +
        "x".repeat(900) + "\n",
    );
    const total = Number(megabytes) * 1024 * 1024;
    for (let written = 0; written < total; written += line.length) await Deno.stderr.write(line);
    return "flooded";
  },
}));
