// A host for review 139, run where `snapshots` (plugbox's cache's), `data` (inside plugin b's
// folder), `apart` (no one's) and `code` itself are each mounted a second time at an alias (bwrap
// --bind): write grants of each alias (of `cache` in code's). Prints one JSON object: for each
// case, "granted" or the refusal's message.
import { join } from "node:path";
import { previewStart } from "../../mod.ts";

const { code, other } = JSON.parse(Deno.args[0]) as Record<string, string>;
const base = { cacheDir: join(code, "cache", "plugbox"), isolation: "deno" as const };

async function outcome(root: string, write: string): Promise<string> {
  try {
    await previewStart(join(root, "main.ts"), {
      ...base,
      manifest: "ignore",
      permissions: { write: [write] },
      unsafe: { writeAsRoot: true },
    });
    return "granted";
  } catch (error) {
    return (error as Error).message;
  }
}

const [snapshots, data, apart, whole] = JSON.parse(Deno.args[1]) as string[];
console.log(JSON.stringify({
  snapshots: await outcome(other, snapshots),
  ownData: await outcome(join(code, "projects", "b"), data),
  apart: await outcome(other, apart),
  cache: await outcome(other, join(whole, "cache")),
}));
