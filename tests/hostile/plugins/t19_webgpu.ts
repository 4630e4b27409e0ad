// T19: WebGPU needs no permission: navigator.gpu reaches the machine's GPU
// (and loads its drivers) in a plugin granted nothing.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(): Promise<string> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return "no navigator.gpu";
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? "got a GPU adapter" : "no adapter";
  } catch (error) {
    return `refused: ${(error as Error).name}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
