// `deno task test`'s runner (tests/run.ts): what it counts as failed, and that the files marked
// alone run with nothing beside them while the others run several at a time. Real `deno test` runs of
// the fixtures tests/fixtures/runner_*.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { discover, execute, type Outcome, plan, runAll, runOf, sumOf } from "./run.ts";

Deno.test("the runner counts a failing test, and lists it with its file", async () => {
  const { outcome } = await execute(runOf("tests/fixtures/runner_one_fails.ts"));
  assert.equal(outcome.passed, 1);
  assert.equal(outcome.failed, 1);
  // Where deno says the test was registered: the deadline wrapper's line, whichever it is.
  assert.equal(outcome.failures.length, 1);
  assert.match(
    outcome.failures[0],
    /^tests\/fixtures\/runner_one_fails\.ts: fails on purpose => \.\/tests\/_deadline\.ts:\d+:\d+$/,
  );
});

Deno.test("the runner counts a module that fails to load as failed", async () => {
  const { outcome } = await execute(runOf("tests/fixtures/runner_throws_on_load.ts"));
  assert.equal(outcome.failed, 1);
  assert.match(outcome.failures.join("\n"), /runner_throws_on_load\.ts \(uncaught error\)/);
});

Deno.test("the runner counts a module that exits before its tests (deno says ok) as failed", async () => {
  const { outcome, text } = await execute(runOf("tests/fixtures/runner_exits.ts"));
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  assert.match(plain, /ok \| 0 passed \| 0 failed/, "deno itself reports no failure");
  assert.equal(outcome.failed, 1);
  assert.deepEqual(outcome.failures, ["tests/fixtures/runner_exits.ts: the run ran no test"]);
});

Deno.test("the runner ends a run that passes its deadline, and counts it as failed", async () => {
  const { outcome, text } = await execute(runOf("tests/fixtures/runner_hangs.ts"), 1_500);
  assert.equal(outcome.failed, 1);
  assert.match(text, /passed the runner's deadline of 1\.5 s/);
  assert.match(outcome.failures.join("\n"), /killed at the runner's deadline/);
});

Deno.test("the runner runs two files at a time, and a file marked alone with nothing beside it", async () => {
  const log = await Deno.makeTempFile({ prefix: "plugbox-runner-" });
  try {
    const span = (path: string, name: string, wanted: number, holdMs: number) => {
      const run = runOf(path);
      return {
        ...run,
        label: name,
        args: [...run.args, "--", log, name, `${wanted}`, `${holdMs}`],
      };
    };
    // The alone one first and longest: run beside the others, it would start with them and be
    // open while they start. Each of the others waits to see the other's start: run one at a
    // time, the first would wait in vain.
    const runs = [
      span("tests/fixtures/runner_alone_span.ts", "alone", 1, 1_500),
      span("tests/fixtures/runner_span.ts", "a", 2, 0),
      span("tests/fixtures/runner_span.ts", "b", 2, 0),
    ];
    assert.deepEqual(runs.map((r) => r.alone), [true, false, false]);
    const outcomes: Outcome[] = await runAll(runs, 3, () => {});
    assert.deepEqual(outcomes.map((o) => [o.run.label, o.passed, o.failed]), [
      ...outcomes.slice(0, 2).map((o) => [o.run.label, 1, 0]),
      ["alone", 1, 0],
    ]);
    const starts = Deno.readTextFileSync(log).split("\n").filter((l) => l.startsWith("start "));
    const seen = Object.fromEntries(starts.map((l) => [l.split(" ")[1], l.split(" ")[2] ?? ""]));
    assert.equal(seen.alone, "", "nothing ran beside the one marked alone");
    assert.ok(!`${seen.a},${seen.b}`.includes("alone"), "the others did not run beside it");
    assert.ok(seen.a === "b" || seen.b === "a", `the others ran together: ${starts.join("; ")}`);
  } finally {
    await Deno.remove(log);
  }
});

Deno.test("the runner plans every test file deno test would find, and the examples", () => {
  const runs = plan([], true);
  const labels = runs.map((r) => r.label);
  assert.ok(labels.includes("tests/runner_test.ts"));
  assert.ok(labels.includes("tests/hostile/r73_test.ts"));
  assert.ok(labels.includes("JSDoc examples"));
  assert.ok(
    !labels.some((l) => l.startsWith("tests/hostile/plugins/")),
    "deno.json's test exclude",
  );
  assert.ok(
    !labels.some((l) => l.startsWith("tests/fixtures/runner_")),
    "fixtures are no test files",
  );
  assert.ok(runs.find((r) => r.label === "tests/hostile/r73_test.ts")?.alone);
  assert.ok(!runs.find((r) => r.label === "tests/contract_test.ts")?.alone);
  assert.deepEqual(
    plan([join("tests", "wire")], false).map((r) => r.label).sort(),
    [
      ...Deno.readDirSync("tests/wire")
        .filter((e) => e.name.endsWith("_test.ts"))
        .map((e) => `tests/wire/${e.name}`),
    ].sort(),
  );
});

Deno.test("a line like deno's summary that a module printed before exiting at its top is not its summary", async () => {
  const { outcome, text } = await execute(runOf("tests/fixtures/runner_fake_summary.ts"));
  assert.match(text, /ok \| 7 passed \| 0 failed/, "the module printed it");
  assert.deepEqual([outcome.passed, outcome.failed], [0, 1]);
  assert.deepEqual(outcome.failures, [
    "tests/fixtures/runner_fake_summary.ts: the run ran no test",
  ]);
});

Deno.test("a test that exits with code 0 after printing a line like deno's summary fails its run", async () => {
  const { outcome, text } = await execute(runOf("tests/fixtures/runner_exit_inside.ts"));
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  assert.match(plain, /Aborting the test run/, "deno aborted the run, and printed no summary");
  assert.deepEqual([outcome.passed, outcome.failed], [0, 1]);
  assert.deepEqual(outcome.failures, [
    "tests/fixtures/runner_exit_inside.ts: the run ended with code 0 and no summary at the end of its output",
  ]);
});

Deno.test("the runner counts the tests deno ignored, and the sum shows them", async () => {
  const { outcome } = await execute(runOf("tests/fixtures/runner_ignores.ts"));
  assert.deepEqual([outcome.passed, outcome.failed, outcome.ignored], [1, 0, 1]);
  const { outcome: fails } = await execute(runOf("tests/fixtures/runner_one_fails.ts"));
  assert.equal(sumOf([outcome, fails]), "FAILED | 2 passed | 1 failed | 1 ignored");
});

Deno.test("the runner finds the test files deno test finds, by deno's rules", async () => {
  const root = await Deno.makeTempDir({ prefix: "plugbox-runner-find-" });
  const outside = await Deno.makeTempDir({ prefix: "plugbox-runner-outside-" });
  try {
    const body = 'Deno.test("t", () => {});\n';
    const files = [
      "a_test.ts",
      "b.test.mts",
      "test.js",
      "c_test.cts",
      "d_test.cjs",
      "e_test.TS",
      "__tests__/plain.ts",
      "sub/f_test.tsx",
      ".hidden/g_test.ts",
      "h_Test.ts",
      "i-test.ts",
      "testing.ts",
      "node_modules/p/j_test.ts",
    ];
    for (const file of [...files, "../k_test.ts"]) {
      const path = join(file === "../k_test.ts" ? outside : root, file.replace("../", ""));
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeTextFile(path, body);
    }
    await Deno.writeTextFile(join(root, "deno.json"), "{}\n");
    await Deno.symlink(join(outside, "k_test.ts"), join(root, "linked_test.ts"));
    await Deno.symlink(outside, join(root, "folder_link"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-check", "--allow-all"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ran = [
      ...new TextDecoder().decode(out.stdout).matchAll(/^running \d+ tests? from \.\/(.+)$/gm),
    ]
      .map((m) => m[1]).sort();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.ok(ran.includes("__tests__/plain.ts") && ran.includes("linked_test.ts"), ran.join(", "));
    assert.deepEqual(discover(root).sort(), ran);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a run that cannot start fails that run, and the others still run", async () => {
  const broken = { ...runOf("tests/fixtures/runner_ignores.ts"), label: "broken" };
  broken.args = [...broken.args, "nul\0byte"]; // refused by the spawn itself
  const outcomes = await runAll([broken, runOf("tests/fixtures/runner_one_fails.ts")], 1, () => {});
  assert.deepEqual(outcomes.map((o) => [o.run.label, o.passed, o.failed]).sort(), [
    ["broken", 0, 1],
    ["tests/fixtures/runner_one_fails.ts", 1, 1],
  ]);
  assert.match(
    outcomes.find((o) => o.run.label === "broken")?.failures.join("\n") ?? "",
    /^broken: the run ended with code -1 and no summary/,
  );
});
