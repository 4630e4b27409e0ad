// T6: the host's NODE_OPTIONS and DENO_V8_FLAGS reach a plugin started with the host's environment.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(): string {
  const injected = (globalThis as { __pwned?: boolean }).__pwned === true;
  const gc = typeof (globalThis as { gc?: unknown }).gc === "function";
  return `NODE_OPTIONS code ran: ${injected}; DENO_V8_FLAGS applied: ${gc}`;
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
