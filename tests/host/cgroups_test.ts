// A plugin's cgroups (CPU, memory, pids, cpuacct, made by its prologue where
// plugbox may make them) live exactly as long as the plugin: they hold its
// processes while it runs and are gone once stop() resolves, under every
// layer, after a crash too.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { exists, LAYERS, within } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

for (const isolation of LAYERS) {
  Deno.test(`cgroups [${isolation}]: made for the plugin, holding it, removed when it stops or crashes`, async () => {
    for (const end of ["stop", "crash"] as const) {
      const plugin = await startPlugin(HELLO, { contracts: [Greeter], isolation });
      const cgroup = plugin.plan.cpu.cgroup;
      if (Deno.uid() !== 0) {
        // Only root may make cgroups here: then there are none to hold or remove.
        assert.equal(cgroup, undefined);
        await plugin.close();
        return;
      }
      assert.ok(cgroup, JSON.stringify(plugin.plan.cpu));
      const dirs = [cgroup.dir, cgroup.memoryDir!, cgroup.pidsDir!, cgroup.cpuacctDir!];
      for (const dir of dirs) {
        const procs = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n");
        assert.ok(procs.includes(String(plugin.pid)), `${dir} holds the plugin (${end})`);
      }
      if (end === "crash") {
        Deno.kill(plugin.pid, "SIGKILL");
        await within(plugin.exited, 10_000, "the crash");
      }
      await plugin.close();
      for (const dir of dirs) assert.ok(!exists(dir), `${dir} is removed (${end})`);
    }
  });
}
