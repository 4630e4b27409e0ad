// Review 161: the steps plugbox runs inside the sandbox beside the plugin, under the limits plugbox
// itself sets. A root host's memory cgroup held a plugin's cap for every process of the sandbox
// together, the egress relay included: Deno, about 11 MiB of its own memory idle (48 MiB with 250
// connections open). A command plugin of 32 MiB granted net that held 16 MiB, half its cap, filled
// the cgroup: the kernel's OOM killer ended the plugin (1 start of 3) or its relay (2 of 3), and
// then every connection of the plugin's was refused, and nothing said why. Failed on 3dd32ff.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { testDeadline, within } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const MIB = 1024 * 1024;

Deno.test("r161 [os]: a command plugin of 32 MiB granted net holds half its cap and keeps its network: the relay's memory is not charged to it", async () => {
  testDeadline(90_000);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("r161"),
  );
  const target = `127.0.0.1:${server.addr.port}`;
  await using plugin = await startPlugin(hostile("py_probe/main.py"), {
    contracts: [Probe],
    isolation: "os",
    memoryLimitMiB: 32,
    permissions: { net: [target] },
    unsafe: { privateNetwork: true },
  });
  const cgroup = plugin.plan.cpu.cgroup;
  assert.equal(Deno.uid(), 0, "plugbox makes memory cgroups as root; CI runs as root");
  assert.ok(cgroup?.memoryDir, "a root host puts the plugin in a memory cgroup");
  const probe = plugin.api(Probe);
  const reach = async () => {
    const said = await within(probe.attempt(`connect:${target}`), 30_000, "a connection");
    assert.match(said, /^connected: HTTP\/1\.[01] 200 /, said);
  };
  await reach();
  // Half its cap (16 MiB of bytearrays), well short of its own limit.
  assert.equal(
    await within(probe.attempt("alloc:16"), 30_000, "the allocation"),
    "allocated 16 MiB",
  );
  await reach();
  // The plugin's own cap stays its own: each process is held to 32 MiB, soft and hard.
  const limits = JSON.parse((await probe.attempt("raise-limits")).slice("limits: ".length));
  assert.deepEqual(limits.data, [32 * MIB, 32 * MIB]);
});
