import assert from "node:assert/strict";
import { decodeWaitStatus, ExitWatch } from "../../runner/host/exit_cause.ts";
import { childrenOf, send, stateOf } from "../../runner/host/proc_tree.ts";
import { exists, testDeadline, until, waitFor } from "../_helpers.ts";

Deno.test("decodeWaitStatus() tells an exit code from a signal, as waitpid reports them", () => {
  assert.deepEqual(decodeWaitStatus(133 << 8), { code: 133, signal: null });
  assert.deepEqual(decodeWaitStatus(0), { code: 0, signal: null });
  assert.deepEqual(decodeWaitStatus(5), { code: null, signal: "SIGTRAP" });
  assert.deepEqual(decodeWaitStatus(9), { code: null, signal: "SIGKILL" });
  assert.deepEqual(decodeWaitStatus(11 | 0x80), { code: null, signal: "SIGSEGV" }, "core dumped");
});

async function limitedHost(how: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      new URL("../fixtures/limited_host.ts", import.meta.url).pathname,
      how,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success && text, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test("a host without --allow-all (no /proc in Deno) still sees every end, with bubblewrap's code", async () => {
  testDeadline(90_000);
  // Nothing was stopped, so a crash is seen at once; the code is bubblewrap's 128 + n, and with
  // V8's words a fatal code counts as out of memory (README, Lifecycle).
  assert.deepEqual(await limitedHost("heap"), { code: 133, signal: null, reason: "out-of-memory" });
  assert.deepEqual(await limitedHost("exit"), { code: 133, signal: null, reason: "out-of-memory" });
});

// A stand-in for bubblewrap's tree (wrapper, then its reaper, then the plugin), whose reaper is
// busy for a second after the plugin has exec'd, as a loaded machine can make bubblewrap's
// (which arms its death signal only then), and marks when it starts to wait.
const SANDBOX = `
import os, sys, time
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "60"])
    end = time.time() + 1.0
    while time.time() < end:
        pass
    open(sys.argv[1], "w").close()
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)
os.waitpid(pid, 0)
`;

Deno.test("the exit watch stops a sandbox's reaper, and lets the plugin run, only once the reaper waits (after it armed its death signal)", async () => {
  const dir = await Deno.makeTempDir();
  const waiting = `${dir}/waiting`;
  // The go (GO_STEP in layers.ts): a reaper not yet armed would outlive a host killed then.
  const goes: boolean[] = [];
  const onGo = () => goes.push(exists(waiting));
  // The interpreter itself: a launcher script (pyenv's) would be a tree of its own first.
  const wrapper = new Deno.Command("/usr/bin/python3", {
    args: ["-c", SANDBOX, waiting],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const watch = new ExitWatch(wrapper.pid, onGo);
  const real = watch.run();
  try {
    let init = 0;
    await until(() => (init = childrenOf(wrapper.pid)[0] ?? 0) > 0, 10_000, "the reaper");
    await until(() => stateOf(init) === "T", 10_000, "the watch to stop the reaper");
    assert.ok(exists(waiting), "the reaper was stopped before it reached its wait loop");
    assert.deepEqual(goes, [true], "one go, sent once the reaper waited");
    const [plugin] = childrenOf(init);
    Deno.kill(plugin, "SIGKILL");
    assert.deepEqual(await waitFor(real, "the real exit"), { code: null, signal: "SIGKILL" });
    assert.equal(goes.length, 1);
    // Released, the reaper reaps the plugin and ends; so does the wrapper.
    assert.equal((await waitFor(wrapper.status, "the wrapper to end")).code, 0);
  } finally {
    watch.end();
    send(wrapper.pid, "SIGKILL");
    await wrapper.status;
    await Deno.remove(dir, { recursive: true });
  }
});
