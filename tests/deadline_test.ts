// The per-test deadline (tests/_deadline.ts, preloaded by `deno task test`):
// a test that hangs fails within its deadline, naming what it waited for,
// and the run goes on to the next test instead of stalling.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { within } from "./_helpers.ts";
import { plan } from "./run.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));

Deno.test("deno task test preloads the per-test deadline in every run", () => {
  const config = JSON.parse(Deno.readTextFileSync(`${repo}deno.json`));
  assert.match(config.tasks.test, /deno run --allow-all tests\/run\.ts$/);
  for (const run of plan([], true)) {
    assert.match(run.args.join(" "), /^test .*--preload tests\/_deadline\.ts/, run.label);
  }
});

Deno.test("a hanging test fails at its deadline, naming what it waited for, and the run goes on", async () => {
  const run = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--preload", "tests/_deadline.ts", "tests/fixtures/hangs.ts"],
    cwd: repo,
    env: { PLUGBOX_TEST_DEADLINE_MS: "1500", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = await within(run, 30_000, "the hanging run to end");
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.success, false);
  assert.match(
    text,
    /Test "a regression that hangs" passed its deadline of 1500 ms .*while waiting for a process that never ends/,
  );
  assert.match(text, /the next test still runs \.\.\. ok/);
  assert.match(text, /1 passed \| 1 failed/);
});

// Review 147: the wrapper added where a failing test was registered to its error's message, and a
// DOMException's message (TimeoutError, AbortError) has a getter only: the assignment threw, and
// the test failed with "Cannot set property message of  which has only a getter", its own error
// lost.
Deno.test("a test that fails with a DOMException fails with it, not with the wrapper's error", async () => {
  const run = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-all",
      "--preload",
      "tests/_deadline.ts",
      "tests/fixtures/throws_dom_exception.ts",
    ],
    cwd: repo,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = await within(run, 30_000, "the failing run to end");
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.success, false);
  assert.match(text, /the real failure, kept/);
  assert.doesNotMatch(text, /which has only a getter/);
});
