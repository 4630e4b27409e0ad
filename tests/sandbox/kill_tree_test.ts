// killTree() against a real process tree that forks while the kill runs.
// Under the OS layer, bubblewrap's child (the sandbox's first process) leaves
// bubblewrap's session at once (--new-session), so a child the kill misses is
// in no group the kill signals. A fork already under way when SIGSTOP is sent
// still completes (measured: in 26 of 30 tries its child appeared after the
// children were read), so the kill waits until bubblewrap is stopped before it
// reads them. This test's stand-in forks as fast as it can, each child calling
// setsid() first thing; taking out the wait leaves children behind here.
import assert from "node:assert/strict";
import { killTree } from "../../runner/sandbox/kill_tree.ts";
import { childrenOf, send } from "../../runner/sandbox/proc_tree.ts";
import { testDeadline, until, waitFor } from "../_helpers.ts";
import { processesWith } from "../hostile/_hostile.ts";

// Forks up to 300 children, each in a session of its own at once, then idles.
// It holds 64 MiB it has written to, so that each fork (copying its page
// tables) takes a millisecond or more: a kill most likely lands during one.
// Each child starts 100 threads, so reading the tree takes the kill long
// enough for a child it missed to leave the group.
const FORKER = `
import os, threading, time
held = b"x" * (64 << 20)
def child():
    os.setsid()
    for _ in range(100):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    time.sleep(60)
    os._exit(0)
for _ in range(300):
    if os.fork() == 0:
        child()
time.sleep(60)
`;

Deno.test("a sandboxed tree's root is stopped before its children are read: none forked meanwhile escapes", async () => {
  testDeadline(120_000);
  const marker = `kill-tree-${crypto.randomUUID()}`;
  const escaped: number[] = [];
  try {
    for (let trial = 0; trial < 10; trial++) {
      const root = new Deno.Command("/usr/bin/python3", {
        args: ["-c", FORKER, marker],
        detached: true,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Kill while it forks: once it has made a few children, not after it is done.
      await until(() => childrenOf(root.pid).length >= 20, 10_000, "the stand-in to fork");
      await killTree(root.pid, true);
      await waitFor(root.status, "the stand-in to die");
      // A child made during the kill and missed would sleep on, in its own session.
      await until(
        () => processesWith(marker).length === 0,
        5_000,
        "every child to die",
      ).catch(() => escaped.push(...processesWith(marker)));
      if (escaped.length > 0) break;
    }
  } finally {
    for (const pid of processesWith(marker)) send(pid, "SIGKILL");
  }
  assert.deepEqual(escaped, [], "children outlived the kill");
});

// Review 40: a target of 0 (or -0, 1, -1) would signal the host's own group, or every process it
// may: no caller passes one, and send() refuses it, with Deno's kill and through sh alike.
Deno.test("send() never signals 0, 1 or their groups", () => {
  for (const target of [0, -0, 1, -1]) {
    assert.equal(send(target, "SIGCONT"), false, String(target));
    assert.equal(send(target, "SIGCONT", "/bin/sh"), false, String(target));
  }
});
