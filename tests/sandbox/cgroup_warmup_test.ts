// The warm-up of a launch's cgroup joins (issue 14): just before the prologue's
// spawn, one throwaway shell writes its own pid into the CPU cgroup it is in,
// so that the kernel's grace period for the cgroup lock passes while the
// prologue starts instead of inside its first join. What it buys is measured
// by the bench (BENCHMARKS.md), never here; these tests hold what it does: one
// shell per launch, joining the cgroup it is really in (so nothing moves, even
// for a host moved since its probe), one at a time, killed rather than waited
// for when it cannot finish, and never tried again after a failure.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshCache } from "../_helpers.ts";
import { warmCgroupJoins } from "../../runner/sandbox/cgroup_warmup.ts";
import type { CpuPlan } from "../../runner/sandbox/cpu_limits.ts";

const HOST = new URL("../fixtures/start_path.ts", import.meta.url).pathname;
const CPU_LIMITS = new URL("../../runner/sandbox/cpu_limits.ts", import.meta.url).href;
const WARMUP = new URL("../../runner/sandbox/cgroup_warmup.ts", import.meta.url).href;
const isRoot = Deno.uid() === 0;

/** This process's v1 CPU hierarchy: its mount point and this process's cgroup path in it. */
function ownCpuCgroup(): { mount: string; path: string } {
  const line = Deno.readTextFileSync("/proc/self/cgroup").split("\n")
    .find((l) => l.split(":")[1]?.split(",").includes("cpu"));
  assert.ok(line, "a v1 cpu hierarchy");
  const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
  const mount = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .find((l) => l.split(" - ")[1]?.split(" ")[2]?.split(",").includes("cpu"));
  assert.ok(mount, "the v1 cpu hierarchy's mount");
  return { mount: mount.split(" ")[4], path };
}

/**
 * A `sh` that records each warm-up's argument and, after the warm-up's
 * script, the CPU cgroup its shell ended in; each prologue's first
 * argument; then runs the real one (or `instead`).
 */
async function recordingShell(dir: string, log: string, instead?: string): Promise<string> {
  const sh = join(dir, "sh");
  const after = `r=$?; while IFS= read -r l; do n=\${l#*:}; p=\${n#*:}; n=\${n%%:*}; ` +
    `case ",$n," in *,cpu,*) echo "joined $p" >> '${log}' ;; esac; done < /proc/self/cgroup; exit $r`;
  await Deno.writeTextFile(
    sh,
    `#!/bin/sh
case $2 in
  */proc/self/cgroup*cgroup.procs*|*cgroup.procs*/proc/self/cgroup*)
    echo "warmup $4" >> '${log}'
    ${
      instead ??
        `exec /bin/sh -c "$2\n${after.replaceAll('"', '\\"').replaceAll("$", "\\$")}" "$3" "$4"`
    } ;;
  *ulimit*) echo "prologue $4" >> '${log}' ;;
esac
exec /bin/sh "$@"
`,
    { mode: 0o755 },
  );
  return sh;
}

/** A v1 CPU plan as `planCpu` makes one here, with `sh` as its shell. */
function planWith(sh: string | undefined, version: 1 | 2 = 1): CpuPlan {
  const { mount, path } = ownCpuCgroup();
  const dir = join(mount, path, "plugbox", "plugbox-0-warmup-test");
  return {
    share: 1,
    rate: "cgroup-v1",
    sh,
    cgroup: { dir, version, mount, quotaUs: 100_000, periodUs: 100_000 },
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

Deno.test("cgroup warm-up: each launch runs one shell, which joins the cgroup it is in", async () => {
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
      assert.deepEqual(ran.filter((l) => !l.startsWith("prologue")), []);
      return;
    }
    const { mount, path } = ownCpuCgroup();
    const warmups = ran.filter((l) => l.startsWith("warmup") || l.startsWith("joined"));
    assert.deepEqual(warmups.toSorted(), [
      `joined ${path}`,
      `joined ${path}`,
      `warmup ${mount}`,
      `warmup ${mount}`,
    ], ran.join("\n"));
    // The prologues that join a plugin's cgroups: one warm-up each (the graph check joins none).
    const joins = ran.filter((l) => /^prologue \/.*\/plugbox-\d+-hello-/.test(l));
    assert.equal(joins.length, 2, ran.join("\n"));
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("cgroup warm-up: a host moved since its probe: the shell joins where it is, not where the probe saw the host", async () => {
  if (!isRoot) {
    assert.equal(await warmCgroupJoins(planWith(undefined)), "none"); // nothing to warm
    return;
  }
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  const { mount, path } = ownCpuCgroup();
  // A name ending in a colon: a field split on ":" would drop it, and join the wrong cgroup.
  const movedTo = join(path, `plugbox-warmup-test-${Deno.pid}:`);
  Deno.mkdirSync(join(mount, movedTo));
  try {
    const log = join(bin, "sh.log");
    const sh = await recordingShell(bin, log);
    const host = join(bin, "host.ts");
    await Deno.writeTextFile(
      host,
      `import { planCpu } from "${CPU_LIMITS}";
import { warmCgroupJoins } from "${WARMUP}";
const plan = await planCpu(undefined, "warmup-moved", [], ${JSON.stringify(sh)});
Deno.writeTextFileSync(${JSON.stringify(join(mount, movedTo, "cgroup.procs"))}, String(Deno.pid));
console.log(await warmCgroupJoins(plan));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", host],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "joined");
    assert.deepEqual(lines(log).filter((l) => l.startsWith("joined")), [`joined ${movedTo}`]);
  } finally {
    Deno.removeSync(join(mount, movedTo));
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
    if (!isRoot) return; // only root may write a cgroup.procs here: the next test covers failing

    const first = warmCgroupJoins(planWith(sh));
    const second = warmCgroupJoins(planWith(sh));
    assert.equal(second, first, "a warm-up begun while one runs is the same warm-up");
    assert.equal(await first, "joined");
    assert.equal(await warmCgroupJoins(planWith(sh)), "joined", "a new one once it ended");
    const { mount, path } = ownCpuCgroup();
    assert.deepEqual(lines(log), [
      `warmup ${mount}`,
      `joined ${path}`,
      `warmup ${mount}`,
      `joined ${path}`,
    ]);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("cgroup warm-up: a shell that cannot finish is killed after 2 s, leaves no process, and a later launch tries again", async () => {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  try {
    const pidFile = join(bin, "pid");
    const log = join(bin, "sh.log");
    // Stands in for a shell that never finishes; it would end by itself, successfully, at 30 s.
    const sh = await recordingShell(bin, log, `echo $$ > '${pidFile}'; exec sleep 30`);
    assert.equal(await warmCgroupJoins(planWith(sh)), "failed");
    const pid = Deno.readTextFileSync(pidFile).trim();
    // Its status settled, so it was reaped: no process is left under that pid.
    assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound);
    if (!isRoot) return;
    // Slow once is not broken: the next launch warms up again.
    await Deno.mkdir(join(bin, "again"));
    const real = await recordingShell(join(bin, "again"), log);
    assert.equal(await warmCgroupJoins(planWith(real)), "joined");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

// Last in this file: after a failure, this process tries no warm-up again.
Deno.test("cgroup warm-up: a shell that fails to join stops the warm-ups for the host process", async () => {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-warmup-" });
  try {
    const log = join(bin, "sh.log");
    const sh = await recordingShell(bin, log, "exit 1");
    assert.equal(await warmCgroupJoins(planWith(sh)), "failed");
    assert.equal(await warmCgroupJoins(planWith(sh)), "none", "no second try after a failure");
    assert.equal(lines(log).length, 1, "one shell in all");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
