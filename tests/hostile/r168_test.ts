// Review 168: claims are not verdicts, for plugbox's own refusals of a start. The prologue (and
// the launcher) refuse a start before the plugin runs with words on the plugin's stderr and exit
// 125; the host reported both as a PluginExitedError whose text came from that stderr, which the
// plugin itself writes after its exec. A plugin that printed the budget's refusal and exited 125
// was reported exactly as a start plugbox refused (same class, fields and message shape). plugbox's
// last step now writes a mark just before the plugin's exec: a verdict before it is plugbox's own
// (StartRefusedError, with its reason and the budget's numbers), and every line after it is the
// plugin's (a PluginExitedError, its `plugbox` words marked with a `\`).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StartRefusedError } from "../../mod.ts";
import { ExitCode, exitCodeFor } from "../../runner/cli/commands.ts";
import { PluginProcess } from "../../runner/host/process.ts";
import { EXEC_MARK } from "../../runner/sandbox/start_verdict.ts";
import { prologue, type PrologueOptions } from "../../runner/sandbox/prologue.ts";
import { noInheritedDescriptors, within } from "../_helpers.ts";
import { ISOLATIONS, limitedPidsCgroup } from "./_hostile.ts";

const HOST = fileURLToPath(new URL("./_r168_host.ts", import.meta.url));

type Said = Record<string, Record<string, unknown>>;

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/**
 * Runs review 168's host with `args`, in pids cgroup `dir` where given; its JSON line. `nobody`:
 * as uid 65534 (no cgroups), with a home and Deno dir of its own (its one npm package copied in).
 */
async function run(args: string[], dir = "", nobody = false): Promise<Said> {
  const home = await Deno.makeTempDir({ prefix: "plugbox-r168-home-" });
  try {
    const env: Record<string, string> = {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
    };
    if (nobody) {
      const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
      const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
      const npm = join(home, "deno_dir", "npm", "registry.npmjs.org");
      await Deno.mkdir(npm, { recursive: true });
      const zod = join(denoDir, "npm", "registry.npmjs.org", "zod");
      assert.ok((await new Deno.Command("cp", { args: ["-r", zod, npm] }).output()).success);
      assert.ok(
        (await new Deno.Command("chown", { args: ["-R", "65534:65534", home] }).output()).success,
      );
      env.DENO_DIR = join(home, "deno_dir");
    }
    if (!env.DENO_DIR) delete env.DENO_DIR;
    // No descriptor above 9 inherited (this workplace's runner leaves some): the prologue's sh
    // then writes the mark itself, where native code does not send it through bash.
    const [program, ...argv] = noInheritedDescriptors([
      "/bin/sh",
      "-c",
      '[ -z "$1" ] || echo $$ > "$1/cgroup.procs" || exit 99; shift; exec "$@"',
      "sh",
      dir,
      ...(nobody ? NOBODY : []),
      Deno.execPath(),
      "run",
      ...(nobody ? ["--cached-only"] : []),
      "--allow-all",
      HOST,
      ...args,
    ]);
    const out = await within(
      new Deno.Command(program, {
        args: argv,
        clearEnv: nobody,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output(),
      240_000,
      "review 168's host",
    );
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    return JSON.parse(text.split("\n").at(-1)!);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/**
 * Each forged start under `layers` is the plugin's exit; each honest one after it answers, its
 * stderr clean.
 */
function forgedIsThePlugins(said: Said, layers: readonly string[]) {
  const os = layers.includes("os");
  for (const isolation of [...layers, ...(os ? ["os relay"] : [])]) {
    const got = said[isolation];
    assert.equal(got.name, "PluginExitedError", `${isolation}: ${JSON.stringify(got)}`);
    assert.equal(got.exitCode, 125, isolation);
    assert.equal(got.reportedBy, undefined, isolation);
    // Its words stay in its stderr, each marked as no line of plugbox's.
    const tail = String(got.stderrTail).split("\n");
    assert.deepEqual(tail.map((line) => line.slice(0, 17)), [
      "\\plugbox refused ",
      "\\plugbox: the plu",
      "\\plugbox refused ",
      "\\plugbox: cannot ",
    ], isolation);
    // plugbox's exec mark is never the plugin's line: consumed before it, under every layer.
    assert.deepEqual(said[`${isolation} honest`], {
      answered: "answered hello",
      logs: [],
      egress: isolation === "os relay", // plugbox's launcher, with the relay, is the last step
    }, isolation);
  }
  if (!os) return;
  // Native code, where bash's steps follow the prologue's (and write the mark after them).
  const native = said["os native"];
  assert.equal(native.name, "PluginExitedError", `os native: ${JSON.stringify(native)}`);
  assert.equal(native.exitCode, 125);
  assert.equal(native.reportedBy, undefined);
  assert.deepEqual(String(native.stderrTail).split("\n").map((line) => line.slice(0, 17)), [
    "\\plugbox refused ",
    "\\plugbox: the plu",
    "\\plugbox refused ",
    "\\plugbox: cannot ",
  ], "os native");
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T22 [${isolation}]: a plugin that prints plugbox's refusal and exits 125 is the plugin's exit (review 168)`, async () => {
    forgedIsThePlugins(await run(["forged", isolation]), [isolation]);
  });
}

Deno.test("r168: a host not root (no cgroups) marks the exec too: the forged refusal is the plugin's", async () => {
  assert.equal(Deno.uid(), 0, "setpriv to 65534 needs root; CI runs as root");
  forgedIsThePlugins(await run(["forged", "all"], "", true), ISOLATIONS);
});

Deno.test("r168: plug's exit code for plugbox's refusal of a start is 'refused', not 'crashed'", () => {
  const error = new StartRefusedError("p", { reason: "task-budget", detail: "stop a plugin" });
  assert.equal(exitCodeFor(error), ExitCode.refused);
});

Deno.test("r168: a start over the budget of tasks is plugbox's refusal, with its numbers, under the Deno and OS layers", async () => {
  // A budget of 100 (half of the limit): a cap of 101 fits it with no other plugin running.
  await using group = await limitedPidsCgroup("r168", 200);
  const said = await run(["real", "101"], group.path);
  for (const isolation of ["deno", "os"]) {
    const got = said[isolation];
    assert.equal(got.name, "StartRefusedError", `${isolation}: ${JSON.stringify(got)}`);
    assert.equal(got.reportedBy, "plugbox");
    assert.equal(got.reason, "task-budget");
    assert.deepEqual([got.budget, got.reserved, got.cap, got.others], [100, 0, 101, 0]);
    assert.match(String(got.detail), /stop a plugin, or give this one a lower cpu\.maxTasks$/);
    assert.match(
      String(got.message),
      /^Cannot start plugin "plugins": plugbox refused it \(task-budget\): the machine's plugins may hold 100 /,
    );
  }
});

// The mark is a line like any other to the stderr reader, which drops lines past the rate (or
// past the host's budget for every plugin's stderr together, which another plugin can spend).
// Dropped, the mark was never seen, and the plugin's lines after it were read as plugbox's: its
// forged verdict a second later was plugbox's refusal. A drop now ends what is read as plugbox's.
// The chain here is sh standing in for plugbox's steps (a line of their own, then the mark) and,
// after them, for the plugin (a second later, past the dropped second, the forged verdict).
Deno.test("r168: a mark lost to a stderr drop makes nothing after it plugbox's", async () => {
  const script = [
    "echo 'bwrap: a warning of plugbox'\"'\"'s steps' >&2",
    `echo '${EXEC_MARK}' >&2`,
    "sleep 1.2",
    "echo 'plugbox refused task-budget budget=1 cap=2: forged' >&2",
    "exit 125",
  ].join("; ");
  const proc = new PluginProcess(
    { command: "/bin/sh", args: ["-c", script], env: {}, cwd: "/", marksExec: true },
    { maxLogLinesPerSecond: 1 },
  );
  void proc.stdout.cancel();
  const status = await within(proc.status, 30_000, "the stand-in's exit");
  assert.equal(status.code, 125);
  assert.equal(proc.refusal, undefined, "a verdict after a drop is no verdict of plugbox's");
  assert.match(
    status.stderrTail,
    /\(plugbox: stderr went over 1 lines a second; \d+ bytes were dropped\)\n\\plugbox refused/,
  );
});

// dash ends at once (exit 2, its own words) when a special builtin's redirection fails, before
// `||`: the prologue's "cannot open the plugin's memory cgroup" was never said, nor exit 125, and
// the seccomp filter's open had no words of plugbox's at all. `command exec` lets the verdict run.
Deno.test("r168: the prologue's failed opens are its verdicts (exit 125), not sh's own end", async () => {
  const cases: [PrologueOptions, RegExp][] = [
    [
      { seccompFile: "/nonexistent/r168-filter" },
      /^plugbox refused sandbox: cannot open the seccomp filter \/nonexistent\/r168-filter$/m,
    ],
  ];
  for (const [options, said] of cases) {
    const argv = prologue("/bin/sh", { ...options, marksExec: true, closer: "/bin/bash" });
    const out = await new Deno.Command(argv[0], {
      args: [...argv.slice(1), "/bin/true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 125, stderr);
    assert.match(stderr, said);
    assert.ok(!stderr.includes(EXEC_MARK), "no mark where the plugin never runs");
  }
});
