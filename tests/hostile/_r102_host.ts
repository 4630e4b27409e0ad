/**
 * Review 102's host, run by tests/hostile/r102_test.ts as a process of its own. `start <layer>
 * <program> <marker>`: starts r102_runs.ts with a run grant of `program`, has it leave an orphan
 * (r102_escape.c's `orphan`), prints "ready" once the orphan runs, and waits to be SIGKILLed.
 * `sweep`: a later host's first use of cgroups (the probe, which sweeps dead hosts' cgroups).
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile, processesWith } from "./_hostile.ts";

const [mode, isolation, program, marker] = Deno.args;
if (mode === "sweep") {
  await findControllers("/bin/sh");
  console.log("swept");
  Deno.exit(0);
}
const plugin = await startPlugin(hostile("r102_runs.ts"), {
  contracts: [Probe],
  isolation: isolation as "deno" | "landlock",
  permissions: { run: [program] },
  unsafe: { run: true },
});
await plugin.api(Probe).attempt(`${program} orphan ${marker}`);
while (processesWith(marker).length === 0) await new Promise((r) => setTimeout(r, 5));
console.log(`ready ${plugin.plan.cpu.cgroup !== undefined}`);
setInterval(() => {}, 60_000);
