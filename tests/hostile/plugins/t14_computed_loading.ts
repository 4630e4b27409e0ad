// T14: every way Deno loads code or data at run time from a name computed at
// run time, which no graph check can see: import (with and without
// attributes), require, a Worker, fetch of a file: URL. Each needs a read
// grant (and, under the OS layer, a mount).
import { createRequire } from "node:module";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function outcome(what: string, load: () => Promise<unknown>): Promise<string> {
  try {
    return `${what}: read ${JSON.stringify(await load()).slice(0, 60)}`;
  } catch (error) {
    return `${what}: refused (${(error as Error).name})`;
  }
}

function worker(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Worker(url, { type: "module" });
    w.onmessage = (e) => {
      w.terminate();
      resolve(e.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      w.terminate();
      reject(Object.assign(new Error(e.message), { name: "WorkerError" }));
    };
  });
}

export async function attack(dir = "/tmp/plugbox-hostile"): Promise<string> {
  const at = (name: string) => [dir, name].join("/");
  const require = createRequire(import.meta.url);
  return [
    await outcome("import", async () => (await import(at("secret.js"))).default),
    await outcome(
      "import text",
      async () => (await import(at("secret.txt"), { with: { type: "text" } })).default,
    ),
    await outcome("require", () => Promise.resolve(require(at("secret.json")))),
    await outcome("worker", () => worker(`file://${at("worker.js")}`)),
    await outcome("fetch", async () => await (await fetch(`file://${at("secret.txt")}`)).text()),
  ].join("; ");
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: (dir) => attack(dir) }));
}
