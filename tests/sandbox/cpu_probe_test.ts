// The once-per-host probe of the cgroup controllers (issue 14: one shell for
// every trial instead of one per trial): it finds the same controllers, leaves
// no trial cgroup behind, removes empty cgroups left by hosts that died, and
// never removes a cgroup that still holds a process.
import assert from "node:assert/strict";
import { join } from "node:path";
import { until } from "../_helpers.ts";

const CPU_LIMITS = new URL("../../runner/sandbox/cpu_limits.ts", import.meta.url).href;
const isRoot = Deno.uid() === 0;

/** Plans a CPU budget in a new host process (the probe runs once per process): the plan. */
async function probeInNewHost(): Promise<{ rate: string; cgroup?: Record<string, string> }> {
  const code = `import { planCpu } from "${CPU_LIMITS}";
const plan = await planCpu(undefined, "probe-test", [], "/bin/sh");
console.log(JSON.stringify(plan));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-lock", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

Deno.test("cgroup probe: finds the cpu, memory, pids and cpuacct controllers and leaves no trial cgroup", async () => {
  const plan = await probeInNewHost();
  if (!isRoot) {
    // Without root nothing under /sys/fs/cgroup/*/plugbox is writable here: the watchdog holds the rate.
    assert.notEqual(plan.rate, "cgroup-v1");
    return;
  }
  assert.equal(plan.rate, "cgroup-v1", JSON.stringify(plan));
  const cgroup = plan.cgroup!;
  for (const key of ["dir", "memoryDir", "pidsDir", "cpuacctDir"]) {
    // Named for the host that made it (its pid), so that another host's sweep can tell it is in use.
    assert.match(
      cgroup[key] ?? "",
      /\/plugbox-\d+-probe-test$/,
      `${key}: ${JSON.stringify(cgroup)}`,
    );
    const base = join(cgroup[key], "..");
    const left = entries(base).filter((name) => /^plugbox-(\d+-)?probe-/.test(name));
    assert.deepEqual(left, [], `trial cgroups left in ${base}`);
  }
});

Deno.test("cgroup probe: empty cgroups left by dead hosts are removed, a cgroup holding a process is not", async () => {
  const first = await probeInNewHost();
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
    await probeInNewHost();
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

Deno.test("cgroup probe: a live host's cgroup, made but not joined yet, survives another host's sweep", async () => {
  // Host A's prologue makes all of a plugin's cgroups with one mkdir, then joins them one by one:
  // until then they are empty. Host B's first start sweeps empty plugbox cgroups; had it removed
  // A's, A's start would fail with exit 125 ("cannot make or join the CPU cgroup"), and a trial
  // cgroup removed mid-probe would have cost A its memory and pids cgroups for its whole life.
  const first = await probeInNewHost();
  if (!isRoot) {
    return assert.equal(first.cgroup, undefined, "no cgroups are made without root here");
  }
  const tag = crypto.randomUUID().slice(0, 8);
  const mine = [first.cgroup!.dir, first.cgroup!.pidsDir, first.cgroup!.memoryDir]
    .map((dir) => join(dir, "..", `plugbox-${Deno.pid}-alive-${tag}`));
  for (const dir of mine) Deno.mkdirSync(dir, { recursive: true });
  try {
    await probeInNewHost();
    for (const dir of mine) {
      assert.ok(entries(join(dir, "..")).includes(dir.split("/").pop()!), `${dir} was swept`);
    }
  } finally {
    for (const dir of mine) Deno.remove(dir).catch(() => {});
  }
});
