import assert from "node:assert/strict";
import { decodeWaitStatus, ExitWatch } from "../../runner/host/exit_cause.ts";
import { kernelShowsWaits, reaperSeen } from "../../runner/sandbox/proc_view.ts";
import { childrenOf, send, stateOf } from "../../runner/sandbox/proc_tree.ts";
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
  // It cannot see the sandbox armed either: the go comes at once, and the plan says so.
  const seen = { code: 133, signal: null, reason: "out-of-memory", unseen: true };
  assert.deepEqual(await limitedHost("heap"), seen);
  assert.deepEqual(await limitedHost("exit"), seen);
});

/** A stand-in reaper's wait loop: it reaps until it has no child left, then exits 0. */
const REAPER_LOOP = `    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)`;

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
${REAPER_LOOP}
os.waitpid(pid, 0)
`;

Deno.test("the exit watch stops a sandbox's reaper, and lets the plugin run, only once the reaper waits (after it armed its death signal)", async () => {
  // The go (GO_STEP in layers.ts): a reaper not yet armed would outlive a host killed then.
  const seen = await watchStandIn(SANDBOX, 30_000);
  assert.ok(seen.stoppedAfterWait, "the reaper was stopped before it reached its wait loop");
  assert.deepEqual(seen.goesAtStop, [true], "one go, sent once the reaper waited");
  assert.deepEqual(seen.real, { code: null, signal: "SIGKILL" });
  assert.equal(seen.goes.length, 1);
  // Released, the reaper reaps the plugin and ends; so does the wrapper.
  assert.equal(seen.wrapperCode, 0);
});

// A stand-in for a setuid bubblewrap's reaper, which waits for a helper of its own before its
// wait loop: here it leaves one child a zombie (whose command line reads empty) and waits for
// another, a copy of itself, for a second; only then does it mark, start the plugin and loop.
const SETUID_SANDBOX = `
import os, sys, time
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        os._exit(0)
    helper = os.fork()
    if helper == 0:
        time.sleep(1.0)
        os._exit(0)
    os.waitpid(helper, 0)
    open(sys.argv[1], "w").close()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "60"])
${REAPER_LOOP}
os.waitpid(pid, 0)
`;

/**
 * Runs a stand-in tree under an exit watch: waits until the watch stops the
 * reaper, SIGKILLs the reaper's children, and reports whether the reaper had
 * marked its wait by then, each go (and whether the reaper had marked it
 * then), the exit the watch read, and the wrapper's code once released.
 */
async function watchStandIn(script: string, goDeadlineMs: number) {
  const dir = await Deno.makeTempDir();
  const waiting = `${dir}/waiting`;
  const goes: boolean[] = [];
  // The interpreter itself: a launcher script (pyenv's) would be a tree of its own first.
  const wrapper = new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, waiting],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const watch = new ExitWatch(wrapper.pid, () => goes.push(exists(waiting)));
  const real = watch.run(10_000, goDeadlineMs);
  try {
    let init = 0;
    await until(() => (init = childrenOf(wrapper.pid)[0] ?? 0) > 0, 10_000, "the reaper");
    await until(() => stateOf(init) === "T", 10_000, "the watch to stop the reaper");
    const stoppedAfterWait = exists(waiting);
    const goesAtStop = [...goes];
    for (const child of childrenOf(init)) send(child, "SIGKILL");
    const exit = await waitFor(real, "the real exit");
    const { code } = await waitFor(wrapper.status, "the wrapper to end");
    return { goes, goesAtStop, stoppedAfterWait, real: exit, wrapperCode: code };
  } finally {
    watch.end();
    send(wrapper.pid, "SIGKILL");
    await wrapper.status;
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the exit watch takes neither a zombie child nor a copy of the reaper for the plugin", async () => {
  // With the zombie as its first child, and without: then the copy is its first child.
  const copyOnly = SETUID_SANDBOX.replace("    if os.fork() == 0:\n        os._exit(0)\n", "");
  assert.notEqual(copyOnly, SETUID_SANDBOX);
  for (const script of [SETUID_SANDBOX, copyOnly]) {
    const { goes, stoppedAfterWait } = await watchStandIn(script, 30_000);
    assert.deepEqual(goes, [true], "the go came while the reaper waited for its helper");
    assert.ok(stoppedAfterWait);
  }
});

Deno.test("the go comes by its deadline even when the reaper is not seen waiting; the watch still attaches after", async () => {
  // SANDBOX's reaper waits only a second after the plugin exec'd; the go cannot wait that long.
  const { goes, stoppedAfterWait } = await watchStandIn(SANDBOX, 200);
  assert.deepEqual(goes, [false], "one go, before the reaper waited");
  assert.ok(stoppedAfterWait, "the reaper is stopped only once it waits");
});

Deno.test("kernelShowsWaits(): this kernel shows this process's children and where its threads wait", () => {
  assert.equal(kernelShowsWaits(), true);
});

Deno.test("kernelShowsWaits(): no children list, or no sleeping task with a wait shown, is a no", async () => {
  const proc = await Deno.makeTempDir();
  try {
    const task = (tid: string, state: string, wchan: string, children = true) => {
      Deno.mkdirSync(`${proc}/task/${tid}`, { recursive: true });
      Deno.writeTextFileSync(`${proc}/task/${tid}/stat`, `${tid} (deno) ${state} 1 1 1`);
      Deno.writeTextFileSync(`${proc}/task/${tid}/wchan`, wchan);
      if (children) Deno.writeTextFileSync(`${proc}/task/${tid}/children`, "");
    };
    task("10", "R", "0");
    task("11", "S", "0");
    assert.equal(kernelShowsWaits(proc), false, "every wait shown as 0 (an older kernel)");
    task("12", "S", "futex_do_wait");
    assert.equal(kernelShowsWaits(proc), true);
    for (const tid of ["10", "11", "12"]) Deno.removeSync(`${proc}/task/${tid}/children`);
    assert.equal(kernelShowsWaits(proc), false, "no children list (CONFIG_PROC_CHILDREN=n)");
    assert.equal(kernelShowsWaits(`${proc}/none`), false, "no /proc to read");
  } finally {
    await Deno.remove(proc, { recursive: true });
  }
});

Deno.test("reaperSeen(): a set-UID bubblewrap's reaper is not a non-root host's to read", () => {
  assert.equal(reaperSeen({ bwrapSetuid: true }, false), false);
  assert.equal(reaperSeen({ bwrapSetuid: true }, true), true);
  assert.equal(reaperSeen({ bwrapSetuid: false }, false), true);
});
