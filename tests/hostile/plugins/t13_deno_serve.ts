// T13: under `deno serve` this default export opens a listener with no --allow-net.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

export default {
  fetch: () => new Response("pwned"),
};

if (Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  await serve(implement(Probe, { attempt: () => "serving the protocol only" }));
}
