// Review 82: the sandbox from inside a hostile plugin. Under bubblewrap the plugin's /tmp is a
// tmpfs capped at 64 MiB, but bubblewrap's other tmpfs mounts (the root with every mount point's
// parent folders, the new /dev with /dev/shm in it, the tmpfs hiding bubblewrap's init at /proc/1,
// each tmpfs hiding an interpreter's site-packages) had no size and belonged to the plugin's uid
// 65534: native code or another language stored up to half the machine's memory in each, past
// RLIMIT_DATA (tmpfs pages are no process's data) wherever no v1 memory cgroup holds the plugin.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { rejected, within } from "../_helpers.ts";
import { Probe } from "./plugins/probe.ts";

const PY = fileURLToPath(new URL("./plugins/r82_py/main.py", import.meta.url));

/** Python that writes up to `mib` MiB into a new file in `folder` and says how far it got. */
function fill(folder: string, mib: number): string {
  return [
    "import os, sysconfig",
    `folder = ${JSON.stringify(folder)}`,
    "if folder == 'site-packages': folder = sysconfig.get_paths()['purelib']",
    "if folder == 'above': folder = os.path.dirname(os.getcwd())",
    "path = os.path.join(folder, 'r82-fill')",
    "written = 0",
    "try:",
    "    with open(path, 'wb') as f:",
    `        while written < ${mib}:`,
    "            f.write(bytes(1 << 20)); f.flush(); written += 1",
    "    result = f'wrote {written} MiB'",
    "except OSError as error:",
    "    result = f'refused after {written} MiB: {os.strerror(error.errno)}'",
    "finally:",
    "    try: os.remove(path)",
    "    except OSError: pass",
  ].join("\n");
}

Deno.test("r82 [os]: no tmpfs the plugin can write holds more than its sized /tmp and /dev/shm", async () => {
  await using plugin = await startPlugin(PY, { contracts: [Probe], isolation: "os" });
  const api = plugin.api(Probe);
  // The controls: /tmp (64 MiB) and /dev/shm (16 MiB) are sized, so this much does not fit.
  assert.match(await api.attempt(fill("/tmp", 80)), /^refused after 6\d MiB: No space left/);
  assert.match(await api.attempt(fill("/dev/shm", 80)), /^refused after 1\d MiB: No space left/);
  const outcomes: Record<string, string> = {};
  // "above": the folder holding the plugin's, a mount point's parent that bubblewrap made.
  for (const folder of ["/", "above", "/dev", "/proc/1", "site-packages"]) {
    outcomes[folder] = await api.attempt(fill(folder, 80));
  }
  for (const [folder, outcome] of Object.entries(outcomes)) {
    // Refused at once where read-only; "above" may be under /tmp (a copy of the repository there),
    // refused at /tmp's size.
    assert.match(outcome, /^refused after/, `${folder}: ${JSON.stringify(outcomes)}`);
  }
});

Deno.test("r82 [os]: POSIX semaphores and shared memory still work in a command plugin", async () => {
  await using plugin = await startPlugin(PY, { contracts: [Probe], isolation: "os" });
  const api = plugin.api(Probe);
  // The primitives multiprocessing's Lock and SharedMemory use, without its imports (which load
  // libraries this plugin's graph does not hold).
  const outcome = await api.attempt([
    "import _multiprocessing, _posixshmem, mmap, os",
    "lock = _multiprocessing.SemLock(1, 1, 1, '/r82-lock', True)",
    "lock.acquire(); lock.release()",
    "fd = _posixshmem.shm_open('/r82-memory', os.O_CREAT | os.O_RDWR, 0o600)",
    "os.ftruncate(fd, 1 << 20)",
    "memory = mmap.mmap(fd, 1 << 20)",
    "memory[0] = 7",
    "result = f'ok {memory[0]}'",
    "memory.close(); os.close(fd); _posixshmem.shm_unlink('/r82-memory')",
  ].join("\n"));
  assert.equal(outcome, "ok 7");
});

Deno.test("r82 [os]: memory a command plugin shares (no RLIMIT_DATA counts it) is held by its memory cgroup", async () => {
  await using plugin = await startPlugin(PY, {
    contracts: [Probe],
    isolation: "os",
    memoryLimitMiB: 128,
  });
  // MAP_SHARED | MAP_ANONYMOUS, as Python's mmap(-1, n) maps it: shmem, which the per-process cap
  // of writable private memory does not count.
  const touch = plugin.api(Probe).attempt([
    "import mmap",
    "memory = mmap.mmap(-1, 512 << 20)",
    "for page in range(0, 512 << 20, 4096): memory[page] = 1",
    "result = 'touched 512 MiB'",
  ].join("\n"));
  if (plugin.plan.cpu.cgroup === undefined) {
    // Documented (README, "Memory and processes"): without a memory cgroup (no root, or cgroup v2
    // without its memory controller) only the per-process cap holds, and shared memory escapes it.
    assert.equal(Deno.uid() === 0, false, "a root host makes cgroups here");
    assert.equal(await touch, "touched 512 MiB");
    return;
  }
  const error = await within(rejected<PluginExitedError>(touch), 60_000, "the plugin's death");
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(
    error.reason,
    "out-of-memory",
    `${error.reason} ${error.signal} ${error.exitCode} ${error.message}`,
  );
});
