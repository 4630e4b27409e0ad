// Review 114: a plugin that uses more of the machine than its limits say. A v1 memory cgroup
// charges no socket buffer (TCP or UDP) until it is given a cap of its own for them: a command
// plugin capped at 64 MiB held 259 MiB in TCP and 262 MiB in UDP buffers on its own loopback, up
// to the machine's tcp_mem and udp_mem, which every socket on the machine shares.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { rejected, within } from "../_helpers.ts";
import { Probe } from "./plugins/probe.ts";

const HOARDS = fileURLToPath(
  new URL("./plugins/r114_hoards_sockets/main.py", import.meta.url),
);
const SAYS_OOM = fileURLToPath(new URL("./plugins/r114_claims_oom/main.py", import.meta.url));

for (const kind of ["tcp", "udp"]) {
  Deno.test(`r114 [os]: what a command plugin holds in its ${kind.toUpperCase()} sockets' buffers is capped by its memory cgroup`, async () => {
    await using plugin = await startPlugin(HOARDS, {
      contracts: [Probe],
      isolation: "os",
      memoryLimitMiB: 64,
    });
    if (plugin.plan.cpu.cgroup?.memoryDir === undefined) {
      // Documented (README, "Memory and processes"): without a memory cgroup only the per-process
      // cap holds, and the kernel's buffers escape it.
      assert.notEqual(Deno.uid(), 0, "a root host makes cgroups here");
      return;
    }
    // It asks for four times its cap; the kernel stops charging past the cap (new sockets then
    // hold only the few KiB each the kernel always allows), so it stops well short.
    const outcome = await within(
      plugin.api(Probe).attempt(`${kind} 256`),
      30_000,
      "the hoard",
    );
    const held = Number(/^held (\d+) MiB$/.exec(outcome)?.[1]);
    assert.ok(held < 96, `the plugin capped at 64 MiB holds: ${outcome}`);
  });
}

// A command plugin is no V8: its own words on stderr before an abort it chose made its crash an
// out-of-memory verdict. A real one is the memory cgroup's OOM kill, which its count tells.
Deno.test("r114 [os]: a command plugin that prints V8's out-of-memory words and aborts is reported as the abort it is", async () => {
  await using plugin = await startPlugin(SAYS_OOM, { contracts: [Probe], isolation: "os" });
  const call = plugin.api(Probe).attempt("claim");
  const error = await within(rejected<PluginExitedError>(call), 30_000, "the plugin's death");
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.signal, "SIGABRT", error.message);
  assert.equal(error.reason, "exited", error.message);
  assert.equal((await plugin.exited).reason, "exited");
});
