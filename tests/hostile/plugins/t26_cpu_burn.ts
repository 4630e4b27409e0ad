// T26: keep every core busy from Workers, off the main thread, while the
// main thread answers pings and calls at once: deadlines and health checks
// see a healthy plugin.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const SPIN = "let x = 0; for (;;) { x = (x + 1) | 0; }";
const workers: Worker[] = [];

function attack(what = ""): string {
  const [kind, count = "2"] = what.split(" ");
  if (kind === "burn") {
    for (let i = 0; i < Number(count); i++) {
      workers.push(
        new Worker(`data:text/javascript,${encodeURIComponent(SPIN)}`, { type: "module" }),
      );
    }
    return `burning on ${workers.length} workers`;
  }
  return "alive";
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
