// Review 136, attack on "never leaves a process behind" when the host's process ends abruptly.
// Under the Deno and Landlock layers a host's death takes the plugin with it by setpriv's death
// signal, which no child inherits: a run grant's program (r136_child.c) left as the plugin's own
// child, or double-forked away, ignoring SIGTERM, SIGINT and SIGHUP, runs on. An exit that runs
// code (`Deno.exit`, the main module's end: `unload`) SIGKILLed the plugins' trees and cgroups
// only for a `PluginHost` with `handleSignals` (the default): a host with `handleSignals: false`
// and a plugin of `startPlugin` left both processes running in the dead host's cgroups, until
// some later host's first start swept them (never, without cgroups). `_r136_driver.ts` is a child
// subreaper, so whatever the dead host leaves is found among its own descendants.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testDeadline } from "../_helpers.ts";
import { pluginFolder, processesWith, tempDir } from "./_hostile.ts";

const DRIVER = fileURLToPath(new URL("./_r136_driver.ts", import.meta.url));
const SOURCE = fileURLToPath(new URL("./plugins/r136_child.c", import.meta.url));

/** r136_child.c, built static (it runs inside the Landlock layer's ruleset) in a folder of its own. */
async function built(): Promise<{ program: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r136-" }));
  const program = join(dir, "child");
  const gcc = await new Deno.Command("gcc", { args: ["-static", "-O1", "-o", program, SOURCE] })
    .output();
  assert.ok(gcc.success, new TextDecoder().decode(gcc.stderr));
  return { program, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

interface Report {
  code: number;
  survivors: string[];
  cgroups: string[];
}

/** Runs the driver: the host ends as `death` says once its plugin left the run grant's processes. */
async function ended(args: string[], marker: string): Promise<Report> {
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", DRIVER, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(run.success, `the driver failed (${run.code})`);
    return JSON.parse(new TextDecoder().decode(run.stdout));
  } finally {
    for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL"); // the test's own, by pid
  }
}

for (const isolation of ["deno", "landlock"] as const) {
  for (const host of ["plugin", "0"] as const) {
    const who = host === "plugin" ? "startPlugin's plugin" : "a host with handleSignals: false";
    Deno.test(`r136 [${isolation}]: Deno.exit() in ${who} leaves no process of the plugin's running`, async () => {
      testDeadline(90_000);
      await using build = await built();
      const marker = `r136-left-${crypto.randomUUID()}`;
      const report = await ended(
        [isolation, host, "call", "exit", build.program, marker, ""],
        marker,
      );
      assert.equal(report.code, 0, "the host's own exit");
      assert.deepEqual(report.survivors, [], "what the host's exit left running for 250 ms");
      // Each cgroup is gone, or holds nothing (removed by the next start's sweep).
      for (const line of report.cgroups) {
        assert.match(line, /: $/, "a cgroup still holding a process");
      }
    });
  }
}

// A stop that aborted a start while it was planned returned with a planning helper still running:
// the probes made once per host process for every start (the bubblewrap probe, ldd) were left
// to go on, the start rejecting at once. The stopped start now waits for the one under way.
const ABORT_HOST = fileURLToPath(new URL("./_r136_abort_host.ts", import.meta.url));

for (const [isolation, helper] of [["os", "bwrap"], ["landlock", "ldd"]] as const) {
  Deno.test(`r136 [${isolation}]: a start aborted while ${helper} plans it leaves no ${helper} running`, async () => {
    testDeadline(60_000);
    // The host looks for the helper between turns of its event loop: one that ended between two
    // looks (ldd takes 16 ms here) is missed, and that host's start is not counted; another runs.
    for (let tries = 0; tries < 5; tries++) {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", ABORT_HOST, isolation, helper],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).output();
      assert.ok(run.success, `the host failed (${run.code})`);
      const { seen, left } = JSON.parse(new TextDecoder().decode(run.stdout));
      if (!seen) continue;
      return assert.deepEqual(left, [], "what still ran once the aborted start had rejected");
    }
    assert.fail(`no start of 5 was seen running ${helper}`);
  });
}

// A host that ends with no code run (SIGKILL, an uncaught error, Deno.exit) while it writes a
// plugin folder's snapshot left its build folder (`snapshots/.tmp-…`, read-only, up to the
// snapshot's 64 MiB) in the cache, and no later host removed it. A later write removes one an hour
// old; a younger one may be a live host's write, and stays.
const SNAP_HOST = fileURLToPath(new URL("./_r136_snap_host.ts", import.meta.url));

/** The build folders in `snapshots`. */
async function builds(snapshots: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(snapshots)) {
    if (entry.name.startsWith(".tmp-")) names.push(entry.name);
  }
  return names;
}

Deno.test("r136: a snapshot's build folder a SIGKILLed host left is removed by a later host's write once it is an hour old", async () => {
  testDeadline(120_000);
  await using cache = await tempDir();
  const snapshots = join(cache.path, "snapshots");
  const megabyte = "x".repeat(1024 * 1024);
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`data${i}.txt`] = `${i}${megabyte}`;
  await using folder = await pluginFolder({ ...files, "main.ts": 'console.log("r136");\n' });
  const entry = join(folder.dir, "main.ts");
  let left: string[] = [];
  for (let tries = 0; tries < 5 && left.length === 0; tries++) {
    // A folder of new content each try: its snapshot is written again.
    await Deno.writeTextFile(entry, `console.log("r136 ${crypto.randomUUID()}");\n`);
    const host = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SNAP_HOST, entry, cache.path],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let done = false;
    const status = host.status.finally(() => done = true);
    while (!done) {
      const found = await builds(snapshots).catch(() => []);
      if (found.length > 0) {
        host.kill("SIGKILL");
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await status;
    left = await builds(snapshots).catch(() => []);
  }
  assert.equal(left.length, 1, "no try was killed in the middle of its write");
  const hourAgo = new Date(Date.now() - 61 * 60_000);
  await Deno.utime(join(snapshots, left[0]), hourAgo, hourAgo);
  // A live host's write, begun a moment ago: not this sweep's.
  const live = join(snapshots, ".tmp-r136-live");
  await Deno.mkdir(live);
  await Deno.writeTextFile(entry, `console.log("r136 ${crypto.randomUUID()}");\n`);
  const next = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SNAP_HOST, entry, cache.path],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).output();
  assert.ok(next.success, `the next host failed (${next.code})`);
  assert.deepEqual(await builds(snapshots), [".tmp-r136-live"], "the build folders left");
});
