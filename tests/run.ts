/**
 * `deno task test`'s runner: each test file in a `deno test` process of its own, three at a time
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
 * Why three on this project's two cores: a file spends much of its time waiting on its plugins
 * (their starts in the kernel, CPU shares, deadlines, rate limits): the suite takes about 15
 * minutes of CPU, which two at a time spread over 12 minutes (a third of both cores idle), three
 * over 10. A file that judges a cost by CPU time is marked alone instead.
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
/**
 * What `deno test` discovers as a test module (its `is_supported_test_path`): a file whose name
 * before its extension is `test` or ends `_test` or `.test`, or any file under a `__tests__`
 * folder, with one of these extensions in any case (`x_test.cts`, `y_test.TS` are tests too).
 */
export function isTestPath(path: string): boolean {
  const parts = path.split("/");
  const name = parts.pop() ?? "";
  const ext = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs)$/i.exec(name);
  if (!ext) return false;
  return /(^|[_.])test$/.test(name.slice(0, -ext[0].length)) || parts.includes("__tests__");
}
/** The first lines of a file that must run with no other test file beside it. */
const ALONE = /^\/\/ test runner: alone\b/m;
/** A run that passes this is ended and counted as failed (its tests' own deadlines are 45 s). */
const RUN_DEADLINE_MS = 10 * 60_000;
/**
 * deno's summary, the last line it prints on stdout; a test's own output may hold lines like it
 * (deno brackets that output, and the summary then follows), so only one that ends stdout counts.
 */
const SUMMARY =
  /(?:^|\n)(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored)?[^\n]*\s*$/;
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
  /** Tests deno left out (`ignore`): counted, shown in the sum, not failed. */
  ignored: number;
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

/** The test files under `root` that `deno test` finds there, relative to it, but for `skip`. */
export function discover(root: string, skip: string[] = []): string[] {
  return [...testFiles(root, "", skip)];
}

function* testFiles(root: string, dir: string, skip: string[]): Generator<string> {
  for (
    const entry of [...Deno.readDirSync(join(root, dir))].sort((a, b) => a.name < b.name ? -1 : 1)
  ) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (skip.some((s) => path === s || path.startsWith(`${s}/`))) continue;
    if (entry.isDirectory && entry.name !== ".git" && entry.name !== "node_modules") {
      yield* testFiles(root, path, skip);
    } else if (isTestPath(path) && (entry.isFile || linksToFile(join(root, path)))) yield path;
  }
}

/** A symbolic link to a file: deno runs it as a test (a link to a folder it does not follow). */
function linksToFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
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
  const runs = discover(repo, skip).filter(chosen).map(runOf);
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
 * Counts from one run's output. Only deno's summary at the very end of stdout counts: a line like
 * it that a test printed (its output, or a nested run's) is not it, and a run whose stdout ends
 * otherwise (a test that called `Deno.exit(0)` with the exit sanitizer off: deno lists the tests
 * left pending, after whatever the test printed) printed no summary. A run that ran no test (a
 * module that called `Deno.exit(0)` at its top: deno says "ok | 0 passed"), printed no summary, or
 * ended with an error code while counting no failure, counts one failure: a file that tests
 * nothing must not pass unseen. `stdout` is the run's stdout alone; `text` all it printed.
 */
export function outcomeOf(
  run: Run,
  text: string,
  code: number,
  ms: number,
  stdout: string = text,
): Outcome {
  const plain = stdout.replace(ANSI, "");
  const summary = SUMMARY.exec(plain);
  const head = summary ? plain.slice(0, summary.index) : plain;
  const at = head.lastIndexOf("\n FAILURES \n");
  const listed = summary && at >= 0 ? head.slice(at + "\n FAILURES \n".length) : "";
  const outcome = {
    run,
    passed: Number(summary?.[2] ?? 0),
    steps: Number(summary?.[3] ?? 0),
    failed: Number(summary?.[4] ?? 0),
    ignored: Number(summary?.[6] ?? 0),
    ms,
    failures: listed.split("\n").filter((l) => l.trim()).map((l) => `${run.label}: ${l}`),
  };
  const why = !summary
    ? `ended with code ${code} and no summary at the end of its output`
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
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: run.args,
      cwd: repo,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    // A start that failed (no process or memory left) fails this run, not the runner: thrown,
    // it ended the runner before its sum, leaving the other runs' processes behind it, and
    // .ci/run read the last run's own summary line as the whole suite's.
    const text = `error: the runner could not start this run: ${(error as Error).message}\n`;
    return { outcome: outcomeOf(run, text, -1, performance.now() - started), text };
  }
  running.add(child);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, deadlineMs);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const outs: Uint8Array<ArrayBuffer>[] = [];
  const collect = async (stream: ReadableStream<Uint8Array<ArrayBuffer>>, own?: typeof chunks) => {
    for await (const chunk of stream) {
      chunks.push(chunk);
      own?.push(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    collect(child.stdout, outs),
    collect(child.stderr),
  ]);
  clearTimeout(deadline);
  running.delete(child);
  let text = new TextDecoder().decode(await new Blob(chunks).bytes());
  if (!text.endsWith("\n")) text += "\n";
  if (timedOut) text += `error: the run passed the runner's deadline of ${deadlineMs / 1000} s\n`;
  const stdout = new TextDecoder().decode(await new Blob(outs).bytes());
  const outcome = outcomeOf(run, text, status.code, performance.now() - started, stdout);
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

/** The runs' counts summed, in deno's summary form (.ci/run reads it): the tests ignored too. */
export function sumOf(outcomes: Outcome[]): string {
  const sum = (f: (o: Outcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  const [passed, steps, failed] = [sum((o) => o.passed), sum((o) => o.steps), sum((o) => o.failed)];
  const ignored = sum((o) => o.ignored);
  const stepped = steps ? ` (${steps} steps)` : "";
  const left = ignored ? ` | ${ignored} ignored` : "";
  return `${failed === 0 ? "ok" : "FAILED"} | ${passed} passed${stepped} | ${failed} failed${left}`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

if (import.meta.main) {
  const jobsFlag = Deno.args.find((a) => a.startsWith("--jobs="));
  const jobs = jobsFlag ? Number(jobsFlag.slice("--jobs=".length)) : 3;
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
  const failures = outcomes.flatMap((o) => o.failures);
  if (failures.length > 0) console.log(`\n FAILURES \n\n${failures.join("\n")}`);
  const aloneCount = runs.filter((r) => r.alone).length;
  console.log(
    `\n${sumOf(outcomes)} (${duration(performance.now() - started)}): the sum of ${runs.length} ` +
      `runs of deno test, ${jobs} at a time, ${aloneCount} alone`,
  );
  Deno.exit(outcomes.some((o) => o.failed > 0) ? 1 : 0);
}
