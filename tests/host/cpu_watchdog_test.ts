// The CPU watchdog's pauses under the OS layer never touch bubblewrap or
// its child, the sandbox's reaper: a kill stops bubblewrap and the exit
// watch the reaper (proc_tree.ts), and a SIGCONT from the watchdog must not
// undo either. Here a busy root process stands in for both: it is paused
// when the tree is not sandboxed (the control), never when it is.
import assert from "node:assert/strict";
import { CpuWatchdog } from "../../runner/host/cpu_watchdog.ts";
import { stateOf } from "../../runner/sandbox/proc_tree.ts";
import { ProcReader } from "../../runner/host/proc_reader.ts";
import { until } from "../_helpers.ts";

async function watchBusyRoot(sandboxed: boolean, watchMs: number): Promise<boolean> {
  const busy = new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn();
  const watch = new CpuWatchdog(busy.pid, {
    sh: "sh",
    share: 0.05,
    intervalMs: 50,
    sandboxed,
    onExceeded: () => {},
  });
  let paused = false;
  try {
    const end = Date.now() + watchMs;
    while (Date.now() < end && !paused) {
      paused = stateOf(busy.pid) === "T";
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await watch.stop();
    busy.kill("SIGKILL");
    await busy.status;
  }
  return paused;
}

Deno.test("the CPU watchdog never pauses bubblewrap or the reaper (a sandboxed tree's root and its children)", async () => {
  assert.equal(await watchBusyRoot(true, 1500), false, "the sandbox's root was paused");
});

Deno.test("control: the same busy root, not sandboxed, is paused to hold its share", async () => {
  assert.equal(await watchBusyRoot(false, 5000), true, "the busy root was never paused");
});

// Fail closed: a reader that ends while the plugin lives (here a "shell" that exits at once)
// must end the plugin, never leave its total uncounted.
Deno.test("the CPU watchdog ends the plugin when its process reader fails", async () => {
  const idle = new Deno.Command("sleep", { args: ["60"] }).spawn();
  let ended = false;
  const watch = new CpuWatchdog(idle.pid, {
    sh: "true",
    totalMs: 600_000,
    onExceeded: () => ended = true,
  });
  try {
    await until(() => ended, 10_000, "the watchdog to end the plugin");
  } finally {
    await watch.stop();
    idle.kill("SIGKILL");
    await idle.status;
  }
});

// A process name with a newline, ')' and '*' (the plugin's text) is read, not an error.
Deno.test("the process reader reads a process whose name holds a newline, ')' and '*'", async () => {
  const renamed = new Deno.Command("sh", {
    args: ["-c", "printf 'a) 1 2\\n*) x' > /proc/self/comm; while :; do :; done"],
  }).spawn();
  await using reader = new ProcReader("sh");
  try {
    await until(
      () => Deno.readTextFileSync(`/proc/${renamed.pid}/comm`).includes("\n*"),
      10_000,
      "the rename",
    );
    await until(
      async () => ((await reader.tree(renamed.pid)).get(renamed.pid) ?? 0) > 0,
      10_000,
      "CPU time to show",
    );
  } finally {
    renamed.kill("SIGKILL");
    await renamed.status;
  }
});
