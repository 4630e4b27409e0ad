// The prologue (the `sh` step before every plugin) against another host's sweep: it makes the
// plugin's cgroups with one mkdir and joins them a moment later, and until then they are empty.
// A sweep that cannot tell this host is alive (a host in another PID namespace, an older plugbox
// that removes every empty plugbox-* cgroup) may remove one in between.
import assert from "node:assert/strict";
import { join } from "node:path";
import { prologue } from "../../runner/sandbox/prologue.ts";
import { tempDir } from "../hostile/_hostile.ts";

/**
 * An `sh` whose first `mkdir` is followed by another host's sweep removing the last folder
 * made. The folders stand in for cgroups (plain folders: the prologue's writes make files).
 */
async function sweptOnceShell(dir: string): Promise<string> {
  const sh = join(dir, "sh");
  await Deno.writeTextFile(
    sh,
    `#!/bin/bash
script=$2; shift 2
exec /bin/bash -c 'mkdir() { command mkdir "$@" || return
  if [ ! -e "${dir}/swept" ]; then : > "${dir}/swept"; rm -rf -- "\${@: -1}"; fi; }
'"$script" "$@"
`,
  );
  await Deno.chmod(sh, 0o755);
  return sh;
}

Deno.test("prologue: a cgroup removed between its mkdir and its join is made again and joined", async () => {
  await using base = await tempDir();
  const sh = await sweptOnceShell(base.path);
  const dir = (kind: string) => join(base.path, "cgroups", kind, `plugbox-${Deno.pid}-p-n`);
  const argv = prologue(sh, {
    cgroup: {
      dir: dir("cpu"),
      version: 1,
      quotaUs: 50_000,
      periodUs: 100_000,
      memoryDir: dir("memory"),
      memoryBytes: 1 << 28,
      pidsDir: dir("pids"),
      pidsMax: 8192,
      cpuacctDir: dir("cpuacct"),
    },
  });
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "/bin/sh", "-c", "echo $$"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.ok(await Deno.stat(join(base.path, "swept")), "the sweep ran");
  const pid = new TextDecoder().decode(out.stdout).trim();
  for (const kind of ["cpu", "memory", "pids", "cpuacct"]) {
    const procs = await Deno.readTextFile(join(dir(kind), "cgroup.procs"));
    assert.equal(procs.trim(), pid, `${kind} holds the plugin`);
  }
  assert.equal(stderr, "", "a try that succeeds leaves nothing on the plugin's stderr");
});

// A v1 join through `cgroup.procs` takes the kernel's global threadgroup lock for writing, which
// waits out an RCU grace period (8 to 30 ms a start here); a thread that moves itself (`0` to
// `tasks`) does not take it. The prologue's shell has one thread, so that moves the process.
Deno.test("prologue: a v1 cgroup is joined through `tasks` by the shell's own thread; one without `tasks` through `cgroup.procs`", async () => {
  await using base = await tempDir();
  const dir = (kind: string) => join(base.path, kind);
  for (const kind of ["cpu", "memory", "pids", "cpuacct"]) {
    await Deno.mkdir(dir(kind));
    if (kind !== "pids") await Deno.writeTextFile(join(dir(kind), "tasks"), "");
  }
  const argv = prologue("/bin/sh", {
    cgroup: {
      dir: dir("cpu"),
      version: 1,
      quotaUs: 50_000,
      periodUs: 100_000,
      memoryDir: dir("memory"),
      memoryBytes: 1 << 28,
      pidsDir: dir("pids"),
      pidsMax: 8192,
      cpuacctDir: dir("cpuacct"),
    },
  });
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "/bin/sh", "-c", "echo $$"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const pid = new TextDecoder().decode(out.stdout).trim();
  for (const kind of ["cpu", "memory", "cpuacct"]) {
    assert.equal(await Deno.readTextFile(join(dir(kind), "tasks")), "0\n", `${kind}: this thread`);
    await assert.rejects(Deno.stat(join(dir(kind), "cgroup.procs")), Deno.errors.NotFound);
  }
  assert.equal((await Deno.readTextFile(join(dir("pids"), "cgroup.procs"))).trim(), pid);
});
