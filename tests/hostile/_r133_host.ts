/**
 * Review 133's host, run by tests/hostile/r133_test.ts as a process of its own, started with a
 * variable of several lines in its environment (as a host holding a PEM key there is).
 * `<layer>`: starts r133_reads_host.ts (granted nothing), has it read the host's
 * `/proc/<pid>/environ` through a source map, prints what it said on one line, and stops it.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const [isolation] = Deno.args;
await using plugin = await startPlugin(hostile("r133_reads_host.ts"), {
  contracts: [Probe],
  isolation: isolation as "deno" | "os" | "landlock",
});
const said = await plugin.api(Probe).attempt(Deno.args[1] ?? `/proc/${Deno.pid}/environ`);
console.log(JSON.stringify({ layer: plugin.isolation, said }));
