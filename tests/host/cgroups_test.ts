// A plugin's cgroups (CPU, memory, pids, cpuacct, where plugbox may make
// them: by the host where its Deno permissions reach them, else by the
// plugin's prologue) live exactly as long as the plugin: they hold its
// processes while it runs and are gone once stop() resolves, under every
// layer, after a crash too.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { defaultCacheDir } from "../../runner/sandbox/locate.ts";
import type { CpuPlan } from "../../runner/sandbox/cpu_limits.ts";
import { exists, frozen, LAYERS, testDeadline, until, within } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

for (const isolation of LAYERS) {
  Deno.test(`cgroups [${isolation}]: made for the plugin, holding it, removed when it stops or crashes`, async () => {
    for (const end of ["stop", "crash"] as const) {
      const plugin = await startPlugin(HELLO, { contracts: [Greeter], isolation });
      const cgroup = plugin.plan.cpu.cgroup;
      if (Deno.uid() !== 0) {
        // Only root may make cgroups here: then there are none to hold or remove.
        assert.equal(cgroup, undefined);
        await plugin.close();
        return;
      }
      assert.ok(cgroup, JSON.stringify(plugin.plan.cpu));
      const dirs = [cgroup.dir, cgroup.memoryDir!, cgroup.pidsDir!, cgroup.cpuacctDir!];
      for (const dir of dirs) {
        const procs = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n");
        assert.ok(procs.includes(String(plugin.pid)), `${dir} holds the plugin (${end})`);
      }
      // The prologue moves its one thread (cgroup v1's `tasks`): every thread of every process
      // the plugin became or made after is in every cgroup too.
      const pids = Deno.readTextFileSync(`${cgroup.dir}/cgroup.procs`).split("\n").filter(Boolean);
      const threads = pids.flatMap((pid) =>
        [...Deno.readDirSync(`/proc/${pid}/task`)].map((t) => t.name)
      );
      assert.ok(threads.length > pids.length, `Deno runs several threads: ${threads}`);
      for (const dir of dirs) {
        const tasks = Deno.readTextFileSync(`${dir}/tasks`).split("\n");
        for (const tid of threads) assert.ok(tasks.includes(tid), `${dir} holds thread ${tid}`);
      }
      if (end === "crash") {
        Deno.kill(plugin.pid, "SIGKILL");
        await within(plugin.exited, 10_000, "the crash");
      }
      await plugin.close();
      for (const dir of dirs) assert.ok(!exists(dir), `${dir} is removed (${end})`);
    }
  });
}

Deno.test("cgroups: a host whose Deno permissions do not reach them has its prologue make them and a shell remove them", async () => {
  testDeadline(60_000);
  for (const isolation of ["deno", "os"]) {
    const host = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${defaultCacheDir()}`, // not the cgroup folders
        "--allow-env",
        "--allow-run",
        new URL("../fixtures/cgroups_host.ts", import.meta.url).pathname,
        isolation,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = host.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await within(lines.read(), 30_000, "the host's plugin");
    const { pid, dirs, writable } = JSON.parse(String(first.value));
    if (Deno.uid() !== 0) {
      assert.deepEqual(dirs, []); // only root may make cgroups here
    } else {
      assert.equal(dirs.length, 4, isolation);
      assert.deepEqual(writable, ["prompt", "prompt", "prompt", "prompt"], isolation);
      for (const dir of dirs) {
        const procs = Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n");
        assert.ok(procs.includes(String(pid)), `${dir} holds the plugin (${isolation})`);
      }
    }
    await host.stdin.close();
    const rest = await within(lines.read(), 30_000, "the host's close");
    assert.match(String(rest.value), /closed/);
    assert.ok((await host.status).success);
    for (const dir of dirs) assert.ok(!exists(dir), `${dir} is removed (${isolation})`);
  }
});

/** The two kinds of host closing cgroups: Deno lets only the first do it in its own process. */
const CLOSING_HOSTS = [["--allow-all"], [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
]];

/** Where this host makes cgroups: learned from a plugin's plan. */
async function plannedCpu(): Promise<CpuPlan> {
  const plugin = await startPlugin(HELLO, { contracts: [Greeter], isolation: "deno" });
  await plugin.close();
  return plugin.plan.cpu;
}

/**
 * A cgroup pair made beside the planned ones, named as this host's (so no other host's sweep
 * takes it): the CPU cgroup and the memory or pids one.
 */
function cgroupPair(planned: CpuPlan, tag: string, second: "memoryDir" | "pidsDir") {
  const parent = (dir: string) => dir.slice(0, dir.lastIndexOf("/"));
  const name = `plugbox-${Deno.pid}-${tag}-${crypto.randomUUID().slice(0, 8)}`;
  const cgroup = {
    ...planned.cgroup!,
    dir: `${parent(planned.cgroup!.dir)}/${name}`,
    memoryDir: undefined as string | undefined,
    pidsDir: undefined as string | undefined,
    cpuacctDir: undefined,
    [second]: `${parent(planned.cgroup![second]!)}/${name}`,
  };
  const dirs = [cgroup.dir, cgroup[second]!];
  for (const dir of dirs) Deno.mkdirSync(dir);
  return { cgroup, dirs };
}

/**
 * A host's main module that prints what `closeCgroups` returned for
 * `cgroup`, then runs `then`: a temporary file, for `deno run` (not
 * `deno eval`: it allows all).
 */
function closerHost(planned: CpuPlan, cgroup: CpuPlan["cgroup"], then = ""): string {
  const closer = new URL("../../runner/sandbox/cpu_limits.ts", import.meta.url).href;
  const file = Deno.makeTempFileSync({ suffix: ".ts" });
  Deno.writeTextFileSync(
    file,
    `const { closeCgroups } = await import(${JSON.stringify(closer)});
console.log(JSON.stringify(await closeCgroups(${JSON.stringify({ ...planned, cgroup })})));
${then}`,
  );
  return file;
}

/** `closeCgroups` for `cgroup`, run by a new host with `flags`. */
async function closeInHost(flags: string[], planned: CpuPlan, cgroup: CpuPlan["cgroup"]) {
  const file = closerHost(planned, cgroup);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return {
      success: out.success,
      closed: JSON.parse(text || "null"),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    Deno.removeSync(file);
  }
}

/**
 * {@linkcode closeInHost}, in a host that stays alive after printing what
 * `closeCgroups` returned (as a real host does, where it tries again later),
 * until `stop()`.
 */
async function closeInLiveHost(flags: string[], planned: CpuPlan, cgroup: CpuPlan["cgroup"]) {
  const file = closerHost(planned, cgroup, "setInterval(() => {}, 1000);");
  const host = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, file],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    host.kill("SIGKILL");
    await host.status;
    Deno.removeSync(file);
  };
  try {
    const lines = host.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await within(lines.read(), 20_000, `closeCgroups (${flags})`);
      if (done) break;
      text += value;
    }
    lines.releaseLock();
    return { closed: JSON.parse(text.split("\n")[0] || "null"), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A `sleep` that joined both `dirs`, once the kernel lists it in the last. */
async function sleeperIn(dirs: string[]): Promise<Deno.ChildProcess> {
  const sleeper = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'echo $$ > "$1/cgroup.procs" && echo $$ > "$2/cgroup.procs" && exec sleep 300',
      "sh",
      ...dirs,
    ],
  }).spawn();
  await until(
    () => Deno.readTextFileSync(`${dirs[1]}/cgroup.procs`).includes(String(sleeper.pid)),
    10_000,
    "the process to join",
  );
  return sleeper;
}

/** Removes `dirs` once the kernel has emptied them (a test's own leftovers). */
async function removeEmptied(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    await until(
      () => Deno.remove(dir).then(() => true, (e) => e instanceof Deno.errors.NotFound),
      5000,
      dir,
    );
  }
}

Deno.test("cgroups: an OOM kill is read and the cgroups removed by a host with --allow-all and by one with the README's flags", async () => {
  testDeadline(60_000);
  const planned = await plannedCpu();
  if (Deno.uid() !== 0) {
    assert.equal(planned.cgroup, undefined); // only root may make cgroups here
    return;
  }
  for (const flags of CLOSING_HOSTS) {
    // A cgroup pair whose process the kernel's OOM killer ends.
    const { cgroup, dirs } = cgroupPair(planned, "oom", "memoryDir");
    Deno.writeTextFileSync(`${cgroup.memoryDir}/memory.limit_in_bytes`, String(32 << 20));
    const hog = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'echo $$ > "$1/cgroup.procs" && echo 0 > "$1/memory.swappiness" && exec /usr/bin/python3 -c "b = bytearray(256 << 20)"',
        "sh",
        cgroup.memoryDir!,
      ],
      stderr: "null",
    }).output();
    assert.equal(hog.signal, "SIGKILL", "the OOM killer ended the hog");
    const { closed, stderr } = await closeInHost(flags, planned, cgroup);
    assert.deepEqual(closed, { oomKilled: true, left: [] }, stderr);
    for (const dir of dirs) assert.ok(!exists(dir), `${dir} (${flags})`);
  }
});

Deno.test("cgroups: whatever a plugin's cgroups still hold when it is gone is killed, by a host with --allow-all and by one with the README's flags", async () => {
  testDeadline(60_000);
  // A child that outlived its parent is in neither the plugin's process group nor its tree, but
  // still in its cgroups (tests/hostile/review_test.ts: the orphaned grandchild).
  const planned = await plannedCpu();
  if (Deno.uid() !== 0) {
    assert.equal(planned.cgroup, undefined); // only root may make cgroups here
    return;
  }
  for (const flags of CLOSING_HOSTS) {
    const { cgroup, dirs } = cgroupPair(planned, "left", "pidsDir");
    const left = await sleeperIn(dirs);
    try {
      const { success, stderr } = await closeInHost(flags, planned, cgroup);
      assert.ok(success, stderr);
      const status = await within(left.status, 10_000, `the process's end (${flags})`);
      assert.equal(status.signal, "SIGKILL", `${flags}`);
      for (const dir of dirs) assert.ok(!exists(dir), `${dir} (${flags})`);
    } finally {
      try {
        left.kill("SIGKILL");
      } catch {
        // killed by closeCgroups
      }
      await left.status;
      await removeEmptied(dirs);
    }
  }
});

Deno.test("cgroups: a process that outlives every kill is reported with the cgroups it keeps, removed once it ends, by a host with --allow-all, one with the README's flags and one that may not write them", async () => {
  testDeadline(60_000);
  const planned = await plannedCpu();
  if (Deno.uid() !== 0 || !exists("/sys/fs/cgroup/freezer")) {
    assert.ok(
      Deno.uid() !== 0 || planned.cgroup === undefined || !exists("/sys/fs/cgroup/freezer"),
    );
    return;
  }
  // And a host that may not write the cgroups itself: every try is the closing shell's.
  for (const flags of [...CLOSING_HOSTS, ["--allow-read", `--allow-run=${planned.sh}`]]) {
    const { cgroup, dirs } = cgroupPair(planned, "stuck", "pidsDir");
    const stuck = await sleeperIn(dirs);
    const freezer = await frozen(stuck.pid);
    let host: Awaited<ReturnType<typeof closeInLiveHost>> | undefined;
    let thawed = false;
    try {
      host = await closeInLiveHost(flags, planned, cgroup);
      assert.deepEqual(host.closed, { oomKilled: false, left: dirs }, `${flags}`);
      thawed = true;
      await freezer.thaw(); // the SIGKILL sent meanwhile ends it now
      assert.equal((await within(stuck.status, 10_000, "the thawed process")).signal, "SIGKILL");
      // The host tries again later (1 s after the stop, then less often): it removes them now.
      for (const dir of dirs) await until(() => !exists(dir), 10_000, `${dir} removed (${flags})`);
    } finally {
      if (!thawed) await freezer.thaw();
      try {
        stuck.kill("SIGKILL");
      } catch {
        // already ended
      }
      await stuck.status;
      await host?.stop();
      await removeEmptied(dirs);
    }
  }
});
