// T5: a deno.json beside (or above) the plugin turns on unstable APIs (the test writes the deno.json).
function attack(): string {
  const kv = typeof (Deno as unknown as { openKv?: unknown }).openKv;
  return `openKv is ${kv === "function" ? "ENABLED" : "disabled"}`;
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack());
} else {
  const { implement, serve } = await import("@plugbox/plugbox/plugin");
  const { Probe } = await import("./probe.ts");
  await serve(implement(Probe, { attempt: attack }));
}
