// A helper command's end at an abort or a deadline: the whole tree goes, so nothing holds the
// output the caller waits for.
import assert from "node:assert/strict";
import { runCaptured } from "../../runner/sandbox/exec.ts";
import { processesNaming, until, within } from "../_helpers.ts";

/**
 * Runs `sh -c` with `script(mark)`, which starts a `sleep` of time `mark` holding the output, and
 * ends the call at its deadline or an abort once that sleep runs. Asserts the call settles, with
 * the deadline or the abort's reason; returns the sleeps still there when it did (then killed).
 */
async function endedAt(
  how: "abort" | "deadline",
  script: (mark: string) => string,
  what: string,
): Promise<{ pid: number; argv: string[] }[]> {
  // A time no other sleep has: how the holder is told from everything else.
  const mark = `600.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  const sleeps = () => processesNaming(mark).filter((p) => p.argv[0] === "sleep");
  const stop = new AbortController();
  const running = runCaptured("sh", ["-c", script(mark)], {
    timeoutMs: how === "deadline" ? 500 : 600_000,
    signal: stop.signal,
  }).then((result) => result, (error) => error);
  try {
    await until(() => sleeps().length > 0, 10_000, what);
    const reason = new DOMException("stopped", "AbortError");
    if (how === "abort") stop.abort(reason);
    const outcome = await within(running, 10_000, "the call to settle");
    if (how === "abort") assert.equal(outcome, reason);
    else assert.equal(outcome.timedOut, true);
    return sleeps();
  } finally {
    // Without the mitigation the holder would run for 10 min: end it, so nothing leaks.
    for (const { pid } of sleeps()) Deno.kill(pid, "SIGKILL");
    await running;
  }
}

// As bubblewrap's sandbox does before it arms its death signal: a child in a session of its own,
// outside the helper's process group, holding the helper's stdout (review of the planning's
// abort: a start stopped in its check's first milliseconds waited on such a child for good).
for (const how of ["abort", "deadline"] as const) {
  Deno.test(`runCaptured: at its ${how}, a descendant in a session of its own is killed too, and the call settles`, async () => {
    const left = await endedAt(how, (mark) => `setsid sleep ${mark} & wait`, "the descendant");
    assert.deepEqual(left, [], "nothing left");
  });
}

// The command exits at once, and a descendant in a session of its own holds its output: out of its
// tree (its pid may be another process's by then), so not killed, but no longer waited for either.
for (const how of ["deadline", "abort"] as const) {
  Deno.test(`runCaptured: at its ${how} after the command exited, what still holds its output is not waited for`, async () => {
    await endedAt(how, (mark) => `setsid sleep ${mark} &`, "the descendant");
  });
}

// The kill finds the tree while the command still runs, but something holding its output had left
// it already (a grandchild in a session of its own, its parent gone): it is not killed, and after
// a grace for the tree's death the call settles anyway (seen in CI: an abort that raced the
// command's exit waited for such a process for good).
for (const how of ["deadline", "abort"] as const) {
  Deno.test(`runCaptured: at its ${how}, what holds its output from outside its tree is waited for a grace only`, async () => {
    const script = (mark: string) => `(setsid sleep ${mark} &); exec sleep 601`;
    await endedAt(how, script, "the grandchild out of the tree");
  });
}
