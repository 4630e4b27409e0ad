/**
 * Review 136: a host that starts the plugin at `entry` with the cache `cacheDir` (isolation
 * "deno") and ends once the start has: the test SIGKILLs it while it writes the folder's snapshot,
 * or lets a later one run to its end. The plugin need not start: its snapshot is written first.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";

const [entry, cacheDir] = Deno.args;
await startPlugin(entry, { contracts: [Probe], isolation: "deno", cacheDir })
  .then((plugin) => plugin.close(), () => {});
