// The once-per-host probe of the cgroup controllers (issue 14: one shell for
// every trial instead of one per trial; then none at all where the host's own
// Deno permissions reach /proc and /sys): it finds the same controllers in a
// host with --allow-all (in its own process) and in one with the README's
// flags (through the shell), leaves no trial cgroup behind, removes empty
// cgroups left by hosts that died, and never removes a cgroup that still holds
// a process or belongs to a live host.
import assert from "node:assert/strict";
import { join } from "node:path";
import { until } from "../_helpers.ts";

const CPU_LIMITS = new URL("../../runner/sandbox/cpu_limits.ts", import.meta.url).href;
const isRoot = Deno.uid() === 0;

/** The two kinds of host: Deno lets only the first read /proc and write /sys itself. */
const HOSTS = {
  "all": ["--allow-all"],
  "README flags": ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
} as const;
type Host = keyof typeof HOSTS;

/**
 * Plans a CPU budget in a new host process (the probe runs once per
 * process) with `host`'s flags and a shell that logs each run to `log`:
 * the plan, and how many shells the probe ran.
 */
async function probeInNewHost(
  host: Host,
): Promise<{ rate: string; cgroup?: Record<string, string>; shells: number }> {
  const dir = Deno.makeTempDirSync({ prefix: "plugbox-probe-" });
  try {
    const log = join(dir, "shells.log");
    const shell = join(dir, "sh");
    Deno.writeTextFileSync(shell, `#!/bin/sh\necho run >> '${log}'\nexec /bin/sh "$@"\n`);
    Deno.chmodSync(shell, 0o755);
    const main = join(dir, "main.ts");
    Deno.writeTextFileSync(
      main,
      `import { planCpu } from "${CPU_LIMITS}";
const plan = await planCpu(undefined, "probe-test", [], ${JSON.stringify(shell)});
console.log(JSON.stringify(plan));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", ...HOSTS[host], main],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    let shells = 0;
    try {
      shells = Deno.readTextFileSync(log).split("\n").filter(Boolean).length;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return { ...JSON.parse(new TextDecoder().decode(out.stdout)), shells };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

for (const host of Object.keys(HOSTS) as Host[]) {
  Deno.test(`cgroup probe [${host}]: finds the cpu, memory, pids and cpuacct controllers and leaves no trial cgroup`, async () => {
    const plan = await probeInNewHost(host);
    if (!isRoot) {
      // Without root nothing under /sys/fs/cgroup/*/plugbox is writable here: the watchdog holds the rate.
      assert.notEqual(plan.rate, "cgroup-v1");
      return;
    }
    assert.equal(plan.rate, "cgroup-v1", JSON.stringify(plan));
    const cgroup = plan.cgroup!;
    for (const key of ["dir", "memoryDir", "pidsDir", "cpuacctDir"]) {
      // Named for the host that made it (its pid, in its pid namespace: review 103), so that
      // another host's sweep can tell it is in use.
      assert.match(
        cgroup[key] ?? "",
        /\/plugbox-\d+-ns\d+-t\d+\.\d+-probe-test$/,
        `${key}: ${JSON.stringify(cgroup)}`,
      );
      const base = join(cgroup[key], "..");
      const left = entries(base).filter((name) =>
        /^plugbox-(\d+-(ns\d*-)?(t[\d.]*-)?)?probe-/.test(name)
      );
      assert.deepEqual(left, [], `trial cgroups left in ${base}`);
    }
  });

  Deno.test(`cgroup probe [${host}]: empty cgroups left by dead hosts are removed, a cgroup holding a process is not`, async () => {
    const first = await probeInNewHost(host);
    if (!isRoot) {
      return assert.equal(first.cgroup, undefined, "no cgroups are made without root here");
    }
    const base = join(first.cgroup!.dir, "..");
    const pidsBase = join(first.cgroup!.pidsDir, "..");
    const tag = crypto.randomUUID().slice(0, 8);
    // A host that died: its pid names no process any more (and a name from before cgroups carried
    // the host's pid is swept as it always was).
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const dead = [
      join(base, `plugbox-${gone.pid}-dead-${tag}`),
      join(pidsBase, `plugbox-${gone.pid}-dead-${tag}`),
      join(base, `plugbox-dead-${tag}`),
    ];
    const busy = join(base, `plugbox-busy-${tag}`);
    for (const dir of [...dead, busy]) Deno.mkdirSync(dir, { recursive: true });
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      Deno.writeTextFileSync(join(busy, "cgroup.procs"), String(sleeper.pid));
      await probeInNewHost(host);
      for (const dir of dead) {
        assert.ok(!entries(join(dir, "..")).includes(dir.split("/").pop()!), dir);
      }
      assert.ok(entries(base).includes(`plugbox-busy-${tag}`), "a cgroup in use is kept");
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      // The kernel empties the cgroup a moment after the kill.
      await until(
        () => Deno.remove(busy).then(() => true, () => false),
        5000,
        "the busy cgroup to go",
      );
    }
  });

  Deno.test(`cgroup probe [${host}]: a live host's cgroup, made but not joined yet, survives another host's sweep`, async () => {
    // Host A's prologue makes all of a plugin's cgroups with one mkdir, then joins them one by one:
    // until then they are empty. Host B's first start sweeps empty plugbox cgroups; had it removed
    // A's, A's start would fail with exit 125 ("cannot make or join the CPU cgroup"), and a trial
    // cgroup removed mid-probe would have cost A its memory and pids cgroups for its whole life.
    const first = await probeInNewHost(host);
    if (!isRoot) {
      return assert.equal(first.cgroup, undefined, "no cgroups are made without root here");
    }
    const tag = crypto.randomUUID().slice(0, 8);
    const mine = [first.cgroup!.dir, first.cgroup!.pidsDir, first.cgroup!.memoryDir]
      .map((dir) => join(dir, "..", `plugbox-${Deno.pid}-alive-${tag}`));
    for (const dir of mine) Deno.mkdirSync(dir, { recursive: true });
    try {
      await probeInNewHost(host);
      for (const dir of mine) {
        assert.ok(entries(join(dir, "..")).includes(dir.split("/").pop()!), `${dir} was swept`);
      }
    } finally {
      for (const dir of mine) Deno.remove(dir).catch(() => {});
    }
  });
}

Deno.test("cgroup probe: a host with --allow-all probes in its own process, one with the README's flags through two shells", async () => {
  // Each program is 3 to 5 ms of a host's first start here. Deno 2.9 reads /proc/self and writes
  // /sys only with --allow-all, whatever a permission query says: the other host falls back.
  const all = await probeInNewHost("all");
  const flags = await probeInNewHost("README flags");
  assert.equal(all.shells, 0, "no shell where the host may do it itself");
  assert.equal(flags.shells, 2, "one shell shows the mounts, one runs the trials");
  assert.equal(all.rate, flags.rate);
});

Deno.test("cgroup probe: a host at a terminal with a narrower --allow-read is never asked about /proc", async () => {
  // The in-process probe runs only with read and write access to everything: a look at
  // /proc/self/mountinfo from a host with --allow-read=<list> would prompt at the terminal and
  // hold the host's first start until someone answered (and "A" would widen the host's grant).
  const dir = Deno.makeTempDirSync({ prefix: "plugbox-probe-" });
  try {
    const main = join(dir, "main.ts");
    Deno.writeTextFileSync(
      main,
      `import { planCpu } from "${CPU_LIMITS}";
const plan = await planCpu(undefined, "probe-test", [], "/bin/sh");
console.log("rate", plan.rate);`,
    );
    const host = await new Deno.Command("script", {
      args: [
        "-qec",
        `${Deno.execPath()} run --no-lock --allow-read=${dir} --allow-write --allow-env --allow-run ${main}`,
        "/dev/null",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(host.stdout);
    assert.doesNotMatch(out, /requests? read access/, out);
    assert.match(out, isRoot ? /rate cgroup-v1/ : /rate /, out);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
