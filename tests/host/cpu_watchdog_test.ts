// The CPU watchdog's pauses under the OS layer never touch bubblewrap or
// its child, the sandbox's reaper: a kill stops bubblewrap and the exit
// watch the reaper (proc_tree.ts), and a SIGCONT from the watchdog must not
// undo either. Here a busy root process stands in for both: it is paused
// when the tree is not sandboxed (the control), never when it is.
import assert from "node:assert/strict";
import { CpuWatchdog } from "../../runner/host/cpu_watchdog.ts";
import { stateOf } from "../../runner/host/proc_tree.ts";

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
