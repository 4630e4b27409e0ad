// Who was starved over a ping window, from real kernel readings: a busy loop runs, a sleeping
// process neither runs nor waits, and the verdict rule tells a loop, a blocked plugin, a starved
// plugin and a starved host apart. (A plugin starved for real, end to end: managed_test.ts.)
import assert from "node:assert/strict";
import { type SchedTimes, schedTimes, starvedSide } from "../../runner/host/starvation.ts";
import { ProcReader } from "../../runner/host/proc_reader.ts";
import { until } from "../_helpers.ts";

const SH = "/bin/sh";
const base: SchedTimes = { at: 0, runMs: 100, waitMs: 0, runnable: 0, hostWaitMs: 0, readMs: 1 };
const after = (change: Partial<SchedTimes>): SchedTimes => ({ ...base, at: 5000, ...change });

Deno.test("starvedSide: a loop and a blocked plugin are not starved", () => {
  assert.equal(starvedSide(base, after({ runMs: 5100, runnable: 1 })), undefined);
  assert.equal(starvedSide(base, after({ runMs: 1100, waitMs: 4000, runnable: 1 })), undefined);
  assert.equal(starvedSide(base, after({})), undefined);
  assert.equal(starvedSide(base, after({ waitMs: 2000 })), undefined, "waited under half");
  // Run time that went down was lost from view (a child reaped unwaited): no verdict, the miss counts.
  assert.equal(starvedSide(base, after({ runMs: 40, runnable: 1 })), undefined, "time went down");
  // A loop held to a share of 0.05 by its quota runs 5 % and waits the rest: not hardly, for it.
  assert.equal(
    starvedSide(base, after({ runMs: 350, waitMs: 4750, runnable: 1 }), 0.05),
    undefined,
  );
  assert.equal(starvedSide(base, after({ runMs: 120, waitMs: 4750, runnable: 1 }), 0.05), "plugin");
});

Deno.test("starvedSide: a plugin that hardly ran and wanted to is starved", () => {
  assert.equal(starvedSide(base, after({ runMs: 120, waitMs: 3000 })), "plugin");
  assert.equal(starvedSide(base, after({ runMs: 101, runnable: 1 })), "plugin");
});

Deno.test("starvedSide: a host whose event loop waited a quarter of the window is starved", () => {
  assert.equal(starvedSide(base, after({ hostWaitMs: 1250 })), "host");
  assert.equal(starvedSide(base, after({ hostWaitMs: 1000 })), undefined);
  assert.equal(starvedSide(base, { ...base, hostWaitMs: 9000 }), undefined, "no window");
});

Deno.test("schedTimes reads a real tree: a loop's run time grows, a sleeper's does not", async () => {
  const loop = new Deno.Command(SH, { args: ["-c", "while :; do :; done"] }).spawn();
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const first = await schedTimes(SH, loop.pid);
    const idle = await schedTimes(SH, sleeper.pid);
    assert.ok(first && idle, "both read");
    await until(
      async () => (await schedTimes(SH, loop.pid))!.runMs > first.runMs + 50,
      10_000,
      "the loop to run 50 ms",
    );
    const idleAgain = await schedTimes(SH, sleeper.pid);
    assert.ok(idleAgain!.runMs - idle.runMs < 5, JSON.stringify({ idle, idleAgain }));
    assert.equal(idleAgain!.runnable, 0);
    assert.ok(idleAgain!.hostWaitMs >= idle.hostWaitMs);
    assert.equal(await schedTimes(SH, 2 ** 30), undefined, "no such process");
  } finally {
    loop.kill("SIGKILL");
    sleeper.kill("SIGKILL");
    await Promise.all([loop.status, sleeper.status]);
  }
});

// A reading walks every thread through one shell all plugins share: past 1,024 threads it gives no
// answer (the caller counts the miss) rather than hold the shell, and every other reading, for
// seconds.
Deno.test("a process with more than 1,024 threads gets no schedstat reading", async () => {
  const script = "import threading, sys, time\n" +
    "e = threading.Event()\n" +
    "[threading.Thread(target=e.wait, daemon=True).start() for _ in range(1100)]\n" +
    "print('ready', flush=True)\n" +
    "sys.stdin.read()\n";
  const many = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  await using reader = new ProcReader(SH);
  try {
    const lines = many.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await lines.read()).value ?? "", /ready/);
    lines.releaseLock();
    await assert.rejects(reader.sched([many.pid]), /could not read schedstat/);
    assert.equal(
      (await reader.sched([Deno.pid], "main")).runnable >= 0,
      true,
      "the shell still answers",
    );
    assert.equal(await schedTimes(SH, many.pid), undefined);
  } finally {
    await many.stdin.close();
    await many.status;
    await many.stdout.cancel().catch(() => {});
  }
});
