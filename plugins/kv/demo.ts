/**
 * `deno task example:kv`: a store in a fresh folder, with read and write
 * access to that folder only; the data outlives a restart of the plugin.
 * @module
 */

import { startPlugin, ValidationError } from "@plugbox/plugbox";
import { Kv } from "./contract.ts";

const dir = await Deno.makeTempDir({ prefix: "plugbox-kv-" });
const options = {
  contracts: [Kv],
  permissions: { read: [dir], write: [dir], env: { KV_DIR: dir } },
  // A host running as root must say it accepts that the plugin's files are root's: it could
  // leave set-UID files in its folder. This demo's folder is its own, and removed at the end.
  unsafe: { writeAsRoot: true },
};
try {
  {
    await using plugin = await startPlugin(new URL("./main.ts", import.meta.url), options);
    const kv = plugin.api(Kv);
    await kv.set("greeting", { text: "hello", at: "2026-11-24" });
    await kv.set("count", 41);
    console.log("keys:", await kv.keys());
  }
  await using plugin = await startPlugin(new URL("./main.ts", import.meta.url), options);
  const kv = plugin.api(Kv);
  console.log("after a restart, greeting =", JSON.stringify(await kv.get("greeting")));
  console.log("deleted count:", await kv.delete("count"), "keys now:", await kv.keys());
  try {
    await kv.get("../../etc/passwd");
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    console.log(`refused before it left the host: ${error.message}`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
