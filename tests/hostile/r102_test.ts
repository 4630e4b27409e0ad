// Review 102, attack on "never leaves a process behind" from a program a plugin's run grant names
// (tests/hostile/plugins/r102_escape.c). Under the Deno and Landlock layers a SIGKILLed host takes
// its plugin with it by setpriv's pdeathsig, which a child does not inherit: a child of the granted
// program that double-forks into a session of its own (and ignores SIGTERM) is re-parented to
// init and runs on, in the dead host's cgroups, which the next host's sweep skipped while they
// held a process. It ran for as long as the machine did. The sweep now SIGKILLs what they hold.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testDeadline, until, within } from "../_helpers.ts";
import { processesWith } from "./_hostile.ts";

const HOST = fileURLToPath(new URL("./_r102_host.ts", import.meta.url));
const SOURCE = fileURLToPath(new URL("./plugins/r102_escape.c", import.meta.url));

/** r102_escape.c, built static (it runs inside the Landlock layer's ruleset) in a folder of its own. */
async function built(): Promise<{ program: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r102-" }));
  const program = join(dir, "escape");
  const gcc = await new Deno.Command("gcc", { args: ["-static", "-O1", "-o", program, SOURCE] })
    .output();
  assert.ok(gcc.success, new TextDecoder().decode(gcc.stderr));
  return { program, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** A host of its own (`_r102_host.ts`) run with `flags`, its stdout read line by line. */
function host(args: string[], flags = ["--allow-all"]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, HOST, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const line = async (): Promise<string> => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) return text;
      text += value;
    }
    const [first] = text.split("\n", 1);
    text = text.slice(first.length + 1);
    return first;
  };
  return { child, line, drain: () => lines.cancel() };
}

// The next host sweeps in its own process with --allow-all, else in a shell (Deno reads /proc
// only with --allow-all): the Deno layer's test has the one, the Landlock layer's the other.
const SWEEPERS = {
  deno: ["--allow-all"],
  landlock: ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
};

for (const isolation of ["deno", "landlock"] as const) {
  Deno.test(`r102 [${isolation}]: an orphan a run grant's program leaves outlives a SIGKILLed host only until the next host's first start`, async () => {
    testDeadline(60_000);
    await using build = await built();
    const marker = `r102-orphan-${crypto.randomUUID()}`;
    try {
      const first = host(["start", isolation, build.program, marker]);
      const ready = await within(first.line(), 30_000, "the first host's plugin and its orphan");
      first.child.kill("SIGKILL");
      await first.child.status;
      await first.drain();
      if (ready !== "ready true") {
        // Without cgroups (a host that is not root) nothing holds it: README, unsafe.run.
        return assert.notEqual(Deno.uid(), 0, `root has cgroups here: ${ready}`);
      }
      assert.ok(processesWith(marker).length > 0, "pdeathsig does not reach the orphan");
      const second = host(["sweep"], SWEEPERS[isolation]);
      assert.equal(await within(second.line(), 30_000, "the second host's probe"), "swept");
      await second.drain();
      await second.child.status;
      const gone = await until(() => processesWith(marker).length === 0, 3000, "the orphan's end")
        .then(() => true, () => false);
      assert.ok(gone, `the orphan outlived the next host's sweep: ${processesWith(marker)}`);
    } finally {
      for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL"); // the test's own, by pid
    }
  });
}
