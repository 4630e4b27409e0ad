// Findings of a hostile review of the merged issues 9-13, 16 and 17: each
// test is an attack that succeeds on the code it was written against, so it
// fails until the hole is closed. Each is named "review [layer]: ..." and
// has its control next to it (the same plugin, without the trick).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { rejected, within } from "../_helpers.ts";
import { Probe } from "./plugins/probe.ts";

const PY_COMM = fileURLToPath(new URL("./plugins/review_py_comm/main.py", import.meta.url));

// The CPU watchdog reads /proc/<pid>/stat through `sh` (proc_reader.ts). A process name holding a
// newline (a plugin may rename itself: /proc/self/comm, prctl) cuts the stat line short, the
// shell's arithmetic fails, dash exits, and the watchdog stops silently: the total is no longer
// counted (only RLIMIT_CPU per process is left, and the share too where the watchdog holds it).
Deno.test("review [os]: a Python plugin that renames itself with a newline is still ended at its CPU total", async () => {
  await using plugin = await startPlugin(PY_COMM, {
    contracts: [Probe],
    isolation: "os",
    cpu: { totalMs: 300 },
  });
  // 1500 ms of CPU: five times the total, below RLIMIT_CPU (ceil(0.3) + 2 = 3 s).
  const error = await rejected(
    within(plugin.api(Probe).attempt("rename burn 1500"), 20_000, "the burn"),
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal((await plugin.exited).reason, "cpu-limit");
});

Deno.test("review control: the same Python burn, without the rename, is ended at its CPU total", async () => {
  await using plugin = await startPlugin(PY_COMM, {
    contracts: [Probe],
    isolation: "os",
    cpu: { totalMs: 300 },
  });
  const error = await rejected(within(plugin.api(Probe).attempt("burn 1500"), 20_000, "the burn"));
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal((await plugin.exited).reason, "cpu-limit");
});
