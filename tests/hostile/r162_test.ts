// Review 162: review 161 gave a root host's memory cgroup 64 MiB beside a command plugin's cap for
// the egress relay (Deno) that runs in its sandbox when it is granted net. The same limit was the
// cap of its sockets' TCP and UDP buffers, which are the kernel's, not the relay's: a plugin of
// 32 MiB granted net held 85 MiB in TCP and 95 MiB in UDP buffers of its own loopback (28 and 31
// without net). Failed on 2a6fe75. The 64 MiB of memory itself was the sandbox's, not only the
// relay's: the plugin used what the relay left (it held 72 MiB of shared memory, 20 without net).
// Since review 163 the plugin is held to its cap in a memory cgroup of its own (r163_test.ts).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { RELAY_MEMORY_BYTES } from "../../runner/sandbox/layers.ts";
import { rejected, testDeadline, within } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const MIB = 1024 * 1024;
// Review 114's hoarder, whose plugbox.json asks for no net: granted net past it ("ignore"), so
// that the egress relay runs beside it.
const HOARDS = fileURLToPath(new URL("./plugins/r114_hoards_sockets/main.py", import.meta.url));

for (const kind of ["tcp", "udp"]) {
  Deno.test(`r162 [os]: a command plugin of 32 MiB granted net holds its ${kind.toUpperCase()} sockets' buffers to its own cap, not the relay's memory with it`, async () => {
    testDeadline(90_000);
    await using plugin = await startPlugin(HOARDS, {
      contracts: [Probe],
      isolation: "os",
      memoryLimitMiB: 32,
      permissions: { net: ["127.0.0.1:9"] },
      manifest: "ignore",
      unsafe: { privateNetwork: true },
    });
    assert.equal(Deno.uid(), 0, "plugbox makes memory cgroups as root; CI runs as root");
    const dir = plugin.plan.cpu.cgroup?.memoryDir;
    assert.ok(dir, "a root host puts the plugin in a memory cgroup");
    const read = (file: string) => Number(Deno.readTextFileSync(`${dir}/${file}`).trim());
    // Eight times its cap asked for; the kernel stops charging at the cap (a new socket then
    // holds only the few KiB the kernel always allows).
    const outcome = await within(plugin.api(Probe).attempt(`${kind} 256`), 30_000, "the hoard");
    const held = Number(/^held (\d+) MiB$/.exec(outcome)?.[1]);
    assert.ok(held < 48, `the plugin capped at 32 MiB holds: ${outcome}`);
    assert.equal(read("memory.kmem.tcp.limit_in_bytes"), 32 * MIB);
    assert.equal(read("memory.limit_in_bytes"), 32 * MIB + RELAY_MEMORY_BYTES);
  });
}

Deno.test("r162 [os]: what a command plugin of 32 MiB granted net holds in memory together is its own cap: the relay's 64 MiB are the relay's", async () => {
  testDeadline(90_000);
  await using plugin = await startPlugin(hostile("py_probe/main.py"), {
    contracts: [Probe],
    isolation: "os",
    memoryLimitMiB: 32,
    permissions: { net: ["127.0.0.1:9"] },
    unsafe: { privateNetwork: true },
  });
  assert.ok(plugin.plan.cpu.cgroup?.memoryDir, "a root host puts the plugin in a memory cgroup");
  const probe = plugin.api(Probe);
  let held = 0;
  // Shared memory, which no per-process cap counts, 4 MiB at a time until the cgroup's OOM kill.
  const error = await within(
    rejected<PluginExitedError>((async () => {
      for (; held < 256; held += 4) await probe.attempt("shared:4");
    })()),
    60_000,
    "the OOM kill",
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.reason, "out-of-memory", error.message);
  assert.ok(held < 32, `held ${held} MiB`);
});
