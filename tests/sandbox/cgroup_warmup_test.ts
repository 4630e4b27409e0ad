// The warm-up of a launch's cgroup joins (issue 14): just before the prologue's
// spawn, one throwaway shell writes its own pid into the host's own cgroup, so
// that the kernel's grace period for the cgroup lock passes while the prologue
// starts instead of inside its first join. What it buys is measured by the
// bench (BENCHMARKS.md), never here; these tests hold what it does: one shell
// per launch, aimed at the host's own cgroup (so nothing moves), one at a time,
// and killed rather than waited for when it cannot finish.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshCache } from "../_helpers.ts";
import { warmCgroupJoins } from "../../runner/sandbox/cgroup_warmup.ts";
import type { CpuPlan } from "../../runner/sandbox/cpu_limits.ts";

const HOST = new URL("../fixtures/start_path.ts", import.meta.url).pathname;
const JOIN_OWN = 'echo $$ > "$1"';
const isRoot = Deno.uid() === 0;

/**
 * This process's v1 CPU cgroup folder, read from /proc here: a host this
 * test spawns starts in it too.
 */
function ownCpuCgroup(): string {
  const line = Deno.readTextFileSync("/proc/self/cgroup").split("\n")
    .find((l) => l.split(":")[1]?.split(",").includes("cpu"));
  assert.ok(line, "a v1 cpu hierarchy");
  const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
  const mount = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .find((l) => / - cgroup cgroup \S*\bcpu\b/.test(l) && !/\bcpuacct\b/.test(l.split(" - ")[1]));
  assert.ok(mount, "the v1 cpu hierarchy's mount");
  return join(mount.split(" ")[4], path);
}

/** A `sh` that records each warm-up's target (and each prologue) in `log`, then runs the real one. */
async function recordingShell(
  dir: string,
  log: string,
  then = 'exec /bin/sh "$@"',
): Promise<string> {
  const sh = join(dir, "sh");
  await Deno.writeTextFile(
    sh,
    `#!/bin/sh
case $2 in
  '${JOIN_OWN}') echo "warmup $4" >> "${log}" ;;
  *ulimit*) echo "prologue $4" >> "${log}" ;;
esac
${then}
`,
    { mode: 0o755 },
  );
  return sh;
}

/** A CPU plan as `planCpu` makes one here, with `sh` as its shell. */
function planWith(sh: string | undefined, version: 1 | 2 = 1): CpuPlan {
  const dir = join(ownCpuCgroup(), "plugbox", "plugbox-0-warmup-test");
  return {
    share: 1,
    rate: "cgroup-v1",
    sh,
    cgroup: { dir, version, quotaUs: 100_000, periodUs: 100_000 },
  };
}

function lines(log: string): string[] {
  try {
    return Deno.readTextFileSync(log).split("\n").filter(Boolean);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

Deno.test("cgroup warm-up: each launch runs one shell that joins the host's own cgroup", async () => {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  try {
    const log = join(bin, "sh.log");
    await recordingShell(bin, log);
    await using cache = await freshCache();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HOST, "deno", cache.path, "2"],
      env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout), "hello, 0\nhello, 1\n");
    const ran = lines(log);
    if (!isRoot) {
      // No writable cgroup without root: no prologue joins, so nothing to warm.
      assert.deepEqual(ran, []);
      return;
    }
    const target = `warmup ${join(ownCpuCgroup(), "cgroup.procs")}`;
    assert.deepEqual(ran.filter((l) => l.startsWith("warmup")), [target, target], ran.join("\n"));
    // The prologues that join a plugin's cgroups: one warm-up each (the graph check joins none).
    const joins = ran.filter((l) => /^prologue \/.*\/plugbox-\d+-hello-/.test(l));
    assert.equal(joins.length, 2, ran.join("\n"));
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("cgroup warm-up: one at a time, and none without a shell or a v1 CPU cgroup", async () => {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  try {
    const log = join(bin, "sh.log");
    const sh = await recordingShell(bin, log);
    assert.equal(await warmCgroupJoins(planWith(undefined)), "none");
    assert.equal(await warmCgroupJoins(planWith(sh, 2)), "none");
    assert.equal(await warmCgroupJoins({ share: 1, rate: "watchdog", sh }), "none");
    assert.deepEqual(lines(log), []);

    const first = warmCgroupJoins(planWith(sh));
    const second = warmCgroupJoins(planWith(sh));
    assert.equal(second, first, "a warm-up begun while one runs is the same warm-up");
    const expected = isRoot ? "joined" : "failed"; // only root may write a cgroup.procs here
    assert.equal(await first, expected);
    assert.equal(await warmCgroupJoins(planWith(sh)), expected, "a new one once it ended");
    const target = `warmup ${join(ownCpuCgroup(), "cgroup.procs")}`;
    assert.deepEqual(lines(log), [target, target]);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("cgroup warm-up: a shell that cannot finish is killed after 2 s, and leaves no process", async () => {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  try {
    const pidFile = join(bin, "pid");
    // Stands in for a join that never gets the lock; it would end by itself, successfully, at 30 s.
    const sh = await recordingShell(
      bin,
      join(bin, "sh.log"),
      `echo $$ > "${pidFile}"; exec sleep 30`,
    );
    assert.equal(await warmCgroupJoins(planWith(sh)), "failed");
    const pid = Deno.readTextFileSync(pidFile).trim();
    // Its status settled, so it was reaped: no process is left under that pid.
    assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
