// T7: localStorage and the Cache API write to disk with no permission, shared by plugins.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(): Promise<string> {
  const outcome: string[] = [];
  try {
    const before = localStorage.getItem("plugbox-t7");
    localStorage.setItem("plugbox-t7", "written");
    outcome.push(`localStorage: wrote (found ${before})`);
  } catch (error) {
    outcome.push(`localStorage: refused (${(error as Error).name})`);
  }
  try {
    const cache = await caches.open("plugbox-t7");
    await cache.put("http://x/", new Response("y".repeat(1024 * 1024)));
    outcome.push("caches: wrote 1 MiB");
  } catch (error) {
    outcome.push(`caches: refused (${(error as Error).name})`);
  }
  return outcome.join("; ");
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack());
} else {
  await serve(implement(Probe, { attempt: attack }));
}
