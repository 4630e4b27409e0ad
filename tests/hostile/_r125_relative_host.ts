/**
 * Review 125's host with a relative folder first on its PATH, run by tests/hostile/r125_test.ts
 * from a working folder of the test's: starts the plugin `<module>` with the cache `<cache>` and
 * prints how the start ended. Whatever ran the plugin's own files outside it left a mark.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";

const [module, cacheDir] = Deno.args;
try {
  const plugin = await startPlugin(module, {
    contracts: [Probe],
    cacheDir,
    isolation: "deno",
    startTimeout: 5_000,
  });
  await plugin.close();
  console.log("started");
} catch (error) {
  console.log(`refused: ${error instanceof Error ? error.name : String(error)}`);
}
