/**
 * Review 163's host, run by tests/hostile/r163_test.ts as a process of its own. `start <plugin>
 * <target>`: starts the plugin of 32 MiB under the OS layer granted net to `target`, prints its
 * cgroups (JSON) once it answers, and waits to be SIGKILLed. `sweep`: a later host's first use of
 * cgroups (the probe, which sweeps dead hosts' cgroups).
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { Probe } from "./plugins/probe.ts";

const [mode, plugin, target] = Deno.args;
if (mode === "sweep") {
  await findControllers("/bin/sh");
  console.log("swept");
  Deno.exit(0);
}
const started = await startPlugin(plugin, {
  contracts: [Probe],
  isolation: "os",
  memoryLimitMiB: 32,
  permissions: { net: [target] },
  unsafe: { privateNetwork: true },
});
// Something held in its own cgroup, so that the host dies with both in use.
await started.api(Probe).attempt("hold shared");
console.log(JSON.stringify(started.plan.cpu.cgroup ?? {}));
setInterval(() => {}, 60_000);
