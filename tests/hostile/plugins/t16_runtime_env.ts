// T16: a plugin that only logs. With OTEL_DENO and an endpoint in its
// environment, Deno itself sends the plugin's logs over the network, with
// no net permission at all.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(): string {
  console.error("a log line the runtime would export");
  return "logged";
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  attack();
  // Give the exporter a moment to send before the process ends.
  await new Promise((resolve) => setTimeout(resolve, 500));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
