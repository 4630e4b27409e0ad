/**
 * Review 125's host under a pids limit of its own cgroup, run by tests/hostile/r125_test.ts in a
 * cgroup the test made: one Python plugin makes threads until one more is refused and holds them;
 * then this host tries to start a process. Prints what the plugin said and whether it could.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const plugin = await startPlugin(hostile("py_probe/main.py"), {
  contracts: [Probe],
  isolation: "os",
});
try {
  if (!plugin.plan.cpu.cgroup?.pidsDir) throw new Error("no pids cgroup");
  const said = await plugin.api(Probe).attempt("tasks:8192");
  let spawned: string;
  try {
    spawned = (await new Deno.Command("true").output()).success ? "yes" : "failed";
  } catch (error) {
    spawned = String(error);
  }
  console.log(JSON.stringify({ said, spawned }));
} finally {
  await plugin.close();
}
