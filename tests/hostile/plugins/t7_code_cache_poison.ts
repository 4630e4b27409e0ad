// T7: the SDK's shared code cache. Every new plugin's Deno dir starts from a
// copy of it, so a plugin that could write it would run its own code inside
// every plugin started after it. This plugin finds the cache from the SDK's
// own location and tries every way to change it.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function seedDirs(given?: string): string[] {
  // <cache>/sdk/<key>/plugin.js -> <cache>/sdk-seed/<key>/ (a plain run is told the cache)
  const sdk = new URL(import.meta.resolve("@plugbox/plugbox/plugin")).pathname;
  const cache = given ?? sdk.split("/").slice(0, -3).join("/");
  return [...Deno.readDirSync(`${cache}/sdk-seed`)].map((e) => `${cache}/sdk-seed/${e.name}`);
}

function tryIt(what: string, act: () => unknown): string {
  try {
    act();
    return `${what}: done`;
  } catch (error) {
    return `${what}: refused (${(error as Error).name})`;
  }
}

function attack(cache?: string): string {
  const outcomes: string[] = [];
  let dirs: string[];
  try {
    dirs = seedDirs(cache);
  } catch (error) {
    return `cannot find the seed: ${(error as Error).name}`;
  }
  const garbage = new Uint8Array(4096).fill(0x41);
  for (const dir of dirs) {
    const file = `${dir}/v8_code_cache_v2`;
    outcomes.push(tryIt("overwrite", () => Deno.writeFileSync(file, garbage)));
    outcomes.push(tryIt("open for writing", () => Deno.openSync(file, { write: true }).close()));
    outcomes.push(tryIt("chmod", () => Deno.chmodSync(file, 0o666)));
    outcomes.push(tryIt("remove", () => Deno.removeSync(file)));
    outcomes.push(tryIt("add a file", () => Deno.writeTextFileSync(`${dir}/extra`, "x")));
    outcomes.push(tryIt("rename the folder", () => Deno.renameSync(dir, `${dir}.moved`)));
  }
  return outcomes.join("\n");
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: () => attack() }));
}
