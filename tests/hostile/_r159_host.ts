/**
 * Review 159: a second host process sharing the test's cache. It starts the plugin at `entry`
 * (isolation as given), calls it, prints one JSON line (`{"ok":true,"snapshot":dir}`, or the
 * start's error), then calls it again at each line on stdin, printing each answer, and closes
 * the plugin and exits once stdin ends.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";

const [entry, cacheDir, isolation] = Deno.args;
let plugin;
try {
  plugin = await startPlugin(entry, {
    contracts: [Probe],
    isolation: isolation as "deno",
    cacheDir,
  });
  const said = await plugin.api(Probe).attempt();
  console.log(JSON.stringify({ ok: true, snapshot: plugin.plan.snapshot.dir, said }));
} catch (error) {
  console.log(
    JSON.stringify({ ok: false, error: `${(error as Error).name}: ${(error as Error).message}` }),
  );
  Deno.exit(0);
}
for await (const chunk of Deno.stdin.readable) {
  if (!chunk.includes(10)) continue; // one call a line
  const said = await plugin.api(Probe).attempt().catch((error) => `failed: ${error}`);
  console.log(JSON.stringify({ said }));
}
await plugin.close();
