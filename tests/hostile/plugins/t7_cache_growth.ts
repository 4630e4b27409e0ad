// T7: a plugin with no permission grows Deno's caches. Every module Deno
// loads gets an entry in its Deno dir (V8's compiled code, the module
// analysis, a TypeScript module's transpiled form), and a `data:` import
// needs no permission: a loop of unique ones wrote its plugin's Deno dir at
// about 40 MB/s until the disk was full. It imports `count` (default 300)
// unique JavaScript and TypeScript modules, 20 KiB each.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const FILLER = JSON.stringify("x".repeat(20 * 1024));

async function grow(count: number): Promise<string> {
  const salt = crypto.randomUUID();
  for (let i = 0; i < count; i++) {
    const kind = i % 2 === 0 ? "javascript" : "typescript";
    const typed = kind === "typescript" ? ": string" : "";
    const source = `export const v${i}${typed} = ${FILLER}; export const salt = "${salt}";`;
    await import(`data:application/${kind},${encodeURIComponent(source)}`);
  }
  return `imported ${count}`;
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await grow(Number(Deno.args[0] ?? 300)));
} else {
  await serve(implement(Probe, { attempt: (count) => grow(Number(count ?? 300)) }));
}
