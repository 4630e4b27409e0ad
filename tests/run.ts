/**
 * `deno task test`'s runner: each test file in a `deno test` process of its own, two at a time
 * (`--jobs`), the JSDoc examples in one more, and the files marked `// test runner: alone` by
 * themselves once the others are done. It prints each run's output whole as it ends, the failures
 * again at the end, and last the sum of every run's own count in `deno test`'s summary form.
 *
 * Why processes, not `deno test --parallel`: that runs modules as workers of one process, and the
 * tests share what a process has: its children (a test that checks its host left no process saw
 * another test's plugin), its folder (a `Deno.chdir` into a folder another test then removed failed
 * a third's spawn), its environment. Why marked files alone: they judge a cost by this thread's CPU
 * or a watchdog's share of a core, and a neighbour's start steals from the same two cores.
 *
 * Type checking is `deno task check`'s (it checks `tests/`), so each file runs with `--no-check`;
 * the examples' run checks them.
 *
 * Usage: `deno run --allow-all tests/run.ts [--jobs=N] [path ...]`: only the test files under the
 * given paths (then no examples unless `--doc`).
 * @module
 */

import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../", import.meta.url));
/** What `deno test` discovers as a test module. */
const TEST_FILE = /(^|[\/_.])test\.(ts|tsx|mts|js|mjs|jsx)$/;
/** The first lines of a file that must run with no other test file beside it. */
const ALONE = /^\/\/ test runner: alone\b/m;
/** A run that passes this is ended and counted as failed (its tests' own deadlines are 45 s). */
const RUN_DEADLINE_MS = 10 * 60_000;
const SUMMARY = /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/m;
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export interface Run {
  /** The file, or "JSDoc examples". */
  label: string;
  args: string[];
  alone: boolean;
  /** Bytes of the file: longer files first, so that the last to end is a short one. */
  size: number;
}

export interface Outcome {
  run: Run;
  passed: number;
  steps: number;
  failed: number;
  ms: number;
  /** The failing tests' lines of deno's FAILURES list, or why the run itself failed. */
  failures: string[];
}

const COMMON = ["test", "--allow-all", "--preload", "tests/_deadline.ts"];

/** Folders and files `deno.json` keeps out of the test run. */
function excluded(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(repo, "deno.json")));
  return [...(config.exclude ?? []), ...(config.test?.exclude ?? [])]
    .map((p: string) => p.replace(/\/$/, ""));
}

function* testFiles(dir: string, skip: string[]): Generator<string> {
  for (
    const entry of [...Deno.readDirSync(join(repo, dir))].sort((a, b) => a.name < b.name ? -1 : 1)
  ) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (skip.some((s) => path === s || path.startsWith(`${s}/`))) continue;
    if (entry.isDirectory && entry.name !== ".git" && entry.name !== "node_modules") {
      yield* testFiles(path, skip);
    } else if (entry.isFile && TEST_FILE.test(entry.name)) yield path;
  }
}

/** The run of one test file; `alone` when its first lines carry the mark. */
export function runOf(path: string): Run {
  const text = Deno.readTextFileSync(join(repo, path));
  return {
    label: path,
    args: [...COMMON, "--no-check", path],
    alone: ALONE.test(text.slice(0, 4096)),
    size: text.length,
  };
}

/** The runs to make: the test files under `only` (all when empty), and the examples. */
export function plan(only: string[], doc: boolean): Run[] {
  const skip = excluded();
  const chosen = (path: string) =>
    only.length === 0 ||
    only.some((o) => path === o || path.startsWith(`${o.replace(/\/$/, "")}/`));
  const runs = [...testFiles("", skip)].filter(chosen).map(runOf);
  // The examples of every module outside tests/ (where no test file lives); type-checked.
  if (doc) {
    runs.push({
      label: "JSDoc examples",
      args: [...COMMON, "--doc", "--ignore=tests/", "."],
      alone: false,
      size: Infinity,
    });
  }
  return runs;
}

/**
 * Counts from one run's output. A run that ran no test (a module that called `Deno.exit(0)` at
 * its top: deno says "ok | 0 passed"), printed no summary, or ended with an error code while
 * counting no failure, counts one failure: a file that tests nothing must not pass unseen.
 */
export function outcomeOf(run: Run, text: string, code: number, ms: number): Outcome {
  const plain = text.replace(ANSI, "");
  const summary = SUMMARY.exec(plain);
  const listed = plain.split("\n FAILURES \n")[1]?.split(/^FAILED \|/m)[0] ?? "";
  const outcome = {
    run,
    passed: Number(summary?.[2] ?? 0),
    steps: Number(summary?.[3] ?? 0),
    failed: Number(summary?.[4] ?? 0),
    ms,
    failures: listed.split("\n").filter((l) => l.trim()).map((l) => `${run.label}: ${l}`),
  };
  const why = !summary
    ? `ended with code ${code} and no summary`
    : outcome.passed + outcome.failed === 0
    ? "ran no test"
    : code !== 0 && outcome.failed === 0
    ? `ended with code ${code} and no failed test counted`
    : undefined;
  if (why) {
    outcome.failed = Math.max(outcome.failed, 1);
    outcome.failures.push(`${run.label}: the run ${why}`);
  }
  return outcome;
}

const running = new Set<Deno.ChildProcess>();

/** Runs one `deno test` process; its output (stdout and stderr in the order they came) and counts. */
export async function execute(
  run: Run,
  deadlineMs: number = RUN_DEADLINE_MS,
): Promise<{ outcome: Outcome; text: string }> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: run.args,
    cwd: repo,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  running.add(child);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, deadlineMs);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const collect = async (stream: ReadableStream<Uint8Array<ArrayBuffer>>) => {
    for await (const chunk of stream) chunks.push(chunk);
  };
  const [status] = await Promise.all([child.status, collect(child.stdout), collect(child.stderr)]);
  clearTimeout(deadline);
  running.delete(child);
  let text = new TextDecoder().decode(await new Blob(chunks).bytes());
  if (!text.endsWith("\n")) text += "\n";
  if (timedOut) text += `error: the run passed the runner's deadline of ${deadlineMs / 1000} s\n`;
  const outcome = outcomeOf(run, text, status.code, performance.now() - started);
  if (timedOut) outcome.failures.push(`${run.label}: killed at the runner's deadline`);
  return { outcome, text };
}

/**
 * Runs everything: `jobs` at a time, longest file first, then each run marked alone by itself;
 * `onEnd` gets each run's outcome and output as it ends.
 */
export async function runAll(
  runs: Run[],
  jobs: number,
  onEnd: (outcome: Outcome, text: string) => void,
): Promise<Outcome[]> {
  const together = runs.filter((r) => !r.alone).sort((a, b) => b.size - a.size);
  const alone = runs.filter((r) => r.alone);
  const outcomes: Outcome[] = [];
  const finish = ({ outcome, text }: { outcome: Outcome; text: string }) => {
    outcomes.push(outcome);
    onEnd(outcome, text);
  };
  const worker = async () => {
    for (let run = together.shift(); run; run = together.shift()) finish(await execute(run));
  };
  await Promise.all(Array.from({ length: Math.min(jobs, together.length) }, worker));
  for (const run of alone) finish(await execute(run));
  return outcomes;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

if (import.meta.main) {
  const jobsFlag = Deno.args.find((a) => a.startsWith("--jobs="));
  const jobs = jobsFlag ? Number(jobsFlag.slice("--jobs=".length)) : 2;
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`error: --jobs must be a whole number of at least 1, not "${jobsFlag}"`);
    Deno.exit(2);
  }
  const only = Deno.args.filter((a) => !a.startsWith("--")).map((a) =>
    relative(repo, join(Deno.cwd(), a))
  );
  const runs = plan(only, only.length === 0 || Deno.args.includes("--doc"));
  if (runs.length === 0) {
    console.error(`error: no test file under ${only.map((o) => `"${o}"`).join(", ")}`);
    Deno.exit(2);
  }
  Deno.addSignalListener("SIGINT", () => {
    for (const child of running) child.kill("SIGTERM");
    Deno.exit(130);
  });
  const started = performance.now();
  const outcomes = await runAll(runs, jobs, (outcome, text) => {
    const seconds = (outcome.ms / 1000).toFixed(1);
    console.log(`\n== ${outcome.run.label} (${seconds} s${outcome.run.alone ? ", alone" : ""})`);
    Deno.stdout.writeSync(new TextEncoder().encode(text));
  });
  const sum = (f: (o: Outcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  const [passed, steps, failed] = [sum((o) => o.passed), sum((o) => o.steps), sum((o) => o.failed)];
  const failures = outcomes.flatMap((o) => o.failures);
  if (failures.length > 0) console.log(`\n FAILURES \n\n${failures.join("\n")}`);
  const aloneCount = runs.filter((r) => r.alone).length;
  console.log(
    `\n${failed === 0 ? "ok" : "FAILED"} | ${passed} passed${steps ? ` (${steps} steps)` : ""} | ` +
      `${failed} failed (${duration(performance.now() - started)}): the sum of ${runs.length} ` +
      `runs of deno test, ${jobs} at a time, ${aloneCount} alone`,
  );
  Deno.exit(failed === 0 ? 0 : 1);
}
