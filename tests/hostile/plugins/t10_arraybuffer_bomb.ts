// T10: ArrayBuffers live outside the V8 heap cap: allocate up to 1.5 GiB of them (12× a 128 MiB limit).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function attack(): string {
  const hoard: Uint8Array[] = [];
  try {
    while (hoard.length < 24) hoard.push(new Uint8Array(64 * 1024 * 1024).fill(1));
    return `allocated ${hoard.length * 64} MiB`;
  } catch (error) {
    return `stopped at ${hoard.length * 64} MiB: ${(error as Error).message}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
