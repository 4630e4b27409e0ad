/**
 * `deno task mutate [id ...]`: removes each listed mitigation (see
 * mutations.ts) in a scratch copy of the repository, one at a time, runs
 * the tests that should notice, and reports which mutations were killed (by
 * a behavioural test, or only by an argv check) and which survived. Not
 * part of CI: it runs the suite's slow parts dozens of times.
 *
 * Each mutation gets a cache of its own (PLUGBOX_CACHE_DIR), so a mutated
 * plugbox never leaves snapshots or verdicts for the real suite. Before a
 * mutation is applied, its tests must pass on the unmutated copy: a kill by
 * a test that fails anyway would prove nothing.
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Mutation, MUTATIONS } from "./mutations.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));

interface TestRun {
  passed: boolean;
  failures: string[];
  ms: number;
}

interface Outcome {
  mutation: Mutation;
  result: "killed (behavioural)" | "killed (argv only)" | "survived" | "invalid";
  detail: string;
  ms: number;
}

/** Copies the tracked files of the repository into a scratch folder. */
async function scratchCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "plugbox-mutate-" });
  // Readable by others, as a clone is: some tests run a host as another user.
  await Deno.chmod(dir, 0o755);
  const listed = await new Deno.Command("git", { args: ["ls-files", "-z"], cwd: repo }).output();
  const files = new TextDecoder().decode(listed.stdout).split("\0").filter(Boolean);
  for (const file of files) {
    await Deno.mkdir(join(dir, dirname(file)), { recursive: true });
    await Deno.copyFile(join(repo, file), join(dir, file));
  }
  return dir;
}

async function runTests(
  copy: string,
  cache: string,
  tests: string[],
  filter: string | undefined,
): Promise<TestRun> {
  const started = Date.now();
  if (tests.length === 0) return { passed: true, failures: [], ms: 0 };
  const args = ["test", "--allow-all", "--preload", "tests/_deadline.ts"];
  if (filter) args.push("--filter", filter);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...args, ...tests],
    cwd: copy,
    env: { PLUGBOX_CACHE_DIR: cache, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const failures = [...text.matchAll(/^(.+?) => \.\/\S+$/gm)].map((m) => m[1].trim());
  const ran = /\| (\d+) passed/.exec(text);
  // A filter that matches nothing passes vacuously: count it as a failure to set up.
  const passed = out.success && ran !== null && (Number(ran[1]) > 0 || failures.length > 0);
  return { passed, failures: [...new Set(failures)], ms: Date.now() - started };
}

/** A cache with the SDK already built, copied for each mutation. */
async function warmCache(copy: string): Promise<string> {
  const cache = join(copy, ".mutate-cache", "warm");
  await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--config",
      "deno.json",
      `import { previewStart } from "./mod.ts";
      await previewStart("./plugins/hello/main.ts", { isolation: "deno" });`,
    ],
    cwd: copy,
    env: { PLUGBOX_CACHE_DIR: cache },
  }).output();
  return cache;
}

async function cacheFor(copy: string, warm: string, id: string): Promise<string> {
  const cache = join(copy, ".mutate-cache", id);
  await new Deno.Command("cp", { args: ["-a", warm, cache] }).output();
  return cache;
}

async function mutate(copy: string, warm: string, m: Mutation): Promise<Outcome> {
  const started = Date.now();
  const path = join(copy, m.file);
  const original = await Deno.readTextFile(path);
  const count = original.split(m.search).length - 1;
  if (count !== 1) {
    return { mutation: m, result: "invalid", detail: `search text found ${count} times`, ms: 0 };
  }
  const baseCache = await cacheFor(copy, warm, `${m.id}-base`);
  const baseline = await runTests(copy, baseCache, m.tests, m.filter);
  const argvBaseline = m.argvTests
    ? await runTests(copy, baseCache, m.argvTests.tests, m.argvTests.filter)
    : baseline;
  if (!baseline.passed || !argvBaseline.passed) {
    return {
      mutation: m,
      result: "invalid",
      detail: `its tests fail unmutated: ${
        [...baseline.failures, ...argvBaseline.failures].join("; ") || "no test ran"
      }`,
      ms: Date.now() - started,
    };
  }
  const bundle = join(copy, "runner/sandbox/_sdk_bundle.ts");
  const bundleBefore = await Deno.readTextFile(bundle);
  await Deno.writeTextFile(path, original.replace(m.search, m.replace));
  try {
    // Plugins run the prebuilt SDK bundle, not runner/plugin/: rebuild it, so that a mutation of
    // the SDK's sources reaches the plugins (without this, such a mutation survived unapplied).
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tools/build_sdk.ts"],
      cwd: copy,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!built.success) {
      const why = new TextDecoder().decode(built.stderr).trim().split("\n").at(-1);
      return {
        mutation: m,
        result: "invalid",
        detail: `the SDK bundle did not build: ${why}`,
        ms: 0,
      };
    }
    const cache = await cacheFor(copy, warm, m.id);
    const behavioural = await runTests(copy, cache, m.tests, m.filter);
    if (!behavioural.passed) {
      return {
        mutation: m,
        result: "killed (behavioural)",
        detail: behavioural.failures.join("; ") || "the test run failed",
        ms: Date.now() - started,
      };
    }
    if (m.argvTests) {
      const argv = await runTests(copy, cache, m.argvTests.tests, m.argvTests.filter);
      if (!argv.passed) {
        return {
          mutation: m,
          result: "killed (argv only)",
          detail: `${argv.failures.join("; ")}${
            m.argvOnlyBecause ? `; no behaviour to observe: ${m.argvOnlyBecause}` : ""
          }`,
          ms: Date.now() - started,
        };
      }
    }
    return {
      mutation: m,
      result: "survived",
      detail: "every listed test still passed",
      ms: Date.now() - started,
    };
  } finally {
    await Deno.writeTextFile(path, original);
    await Deno.writeTextFile(bundle, bundleBefore);
  }
}

if (import.meta.main) {
  const wanted = new Set(Deno.args);
  const list = wanted.size ? MUTATIONS.filter((m) => wanted.has(m.id)) : MUTATIONS;
  const unknown = [...wanted].filter((id) => !MUTATIONS.some((m) => m.id === id));
  if (unknown.length) {
    console.error(`unknown mutation ids: ${unknown.join(", ")}`);
    Deno.exit(2);
  }
  const copy = await scratchCopy();
  console.error(`scratch copy: ${copy}`);
  const warm = await warmCache(copy);
  const outcomes: Outcome[] = [];
  try {
    for (const m of list) {
      const outcome = await mutate(copy, warm, m);
      outcomes.push(outcome);
      console.log(
        `${outcome.result.padEnd(21)} ${m.id.padEnd(22)} ${
          Math.round(outcome.ms / 1000)
        }s  ${m.mitigation} -> ${outcome.detail}`,
      );
    }
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", copy] }).output();
    await Deno.remove(copy, { recursive: true });
  }
  const killed = outcomes.filter((o) => o.result.startsWith("killed")).length;
  const behavioural = outcomes.filter((o) => o.result === "killed (behavioural)").length;
  const argvOnly = outcomes.filter((o) => o.result === "killed (argv only)");
  console.log(
    `\nscore: ${killed}/${outcomes.length} killed (${
      Math.round(100 * killed / Math.max(outcomes.length, 1))
    }%), ${behavioural} by a behavioural test, ${argvOnly.length} by argv or message only` +
      (argvOnly.length ? ` (${argvOnly.map((o) => o.mutation.id).join(", ")})` : ""),
  );
  const bad = outcomes.filter((o) => o.result === "survived" || o.result === "invalid");
  if (bad.length) {
    console.log(`not killed: ${bad.map((o) => `${o.mutation.id} (${o.result})`).join(", ")}`);
    Deno.exit(1);
  }
}
