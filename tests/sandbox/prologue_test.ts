// The prologue (the `sh` step before every plugin) against another host's sweep: it makes the
// plugin's cgroups with one mkdir and joins them a moment later, and until then they are empty.
// A sweep that cannot tell this host is alive (a host in another PID namespace, an older plugbox
// that removes every empty plugbox-* cgroup) may remove one in between.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { OPEN_FILES, PENDING_SIGNALS, prologue } from "../../runner/sandbox/prologue.ts";
import { tempDir } from "../hostile/_hostile.ts";
import { exists } from "../_helpers.ts";

/**
 * A `mkdir`, in a folder of its own to put first on the host's PATH (the prologue runs the host
 * PATH's mkdir), whose first run is followed by another host's sweep removing the last folder
 * made. The folders stand in for cgroups: as cgroupfs does, each `mkdir` gives a new folder its
 * `tasks` and `cgroup.procs` files (then the prologue's writes fill them).
 */
async function sweptOnceMkdir(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "mkdir"),
    `#!/bin/bash
/bin/mkdir "$@" || exit
for d in "$@"; do case $d in -*) ;; *) : > "$d/tasks"; : > "$d/cgroup.procs" ;; esac; done
if [ ! -e "${dir}/swept" ]; then : > "${dir}/swept"; rm -rf -- "\${@: -1}"; fi
`,
  );
  await Deno.chmod(join(bin, "mkdir"), 0o755);
  return bin;
}

/**
 * Runs the prologue with `sh` for the four cgroups at `dir(kind)`, then a shell printing its pid:
 * its exit code, that pid (empty if it never ran) and the prologue's stderr.
 */
async function runPrologue(
  sh: string,
  dir: (kind: string) => string,
  version: 1 | 2,
  bin?: string,
): Promise<{ code: number; pid: string; stderr: string }> {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  if (bin) Deno.env.set("PATH", `${bin}:${path}`);
  let argv: string[];
  try {
    argv = prologue(sh, {
      cgroup: {
        dir: dir("cpu"),
        version,
        quotaUs: 50_000,
        periodUs: 100_000,
        memoryDir: dir("memory"),
        memoryBytes: 1 << 28,
        pidsDir: dir("pids"),
        pidsMax: 8192,
        cpuacctDir: dir("cpuacct"),
      },
    });
  } finally {
    Deno.env.set("PATH", path);
  }
  // The budget every plugin's tasks are reserved from: the limit of the folder of pids cgroups.
  const folder = dirname(dir("pids"));
  await Deno.mkdir(folder, { recursive: true });
  if (!exists(join(folder, "pids.max"))) {
    await Deno.writeTextFile(join(folder, "pids.max"), "16384");
  }
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "/bin/sh", "-c", "echo $$"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, pid: decode(out.stdout).trim(), stderr: decode(out.stderr) };
}

Deno.test("prologue: a cgroup removed between its mkdir and its join is made again and joined", async () => {
  await using base = await tempDir();
  const bin = await sweptOnceMkdir(base.path);
  const dir = (kind: string) => join(base.path, "cgroups", kind, `plugbox-${Deno.pid}-p-n`);
  const { code, stderr } = await runPrologue("/bin/sh", dir, 1, bin);
  assert.equal(code, 0, stderr);
  assert.ok(await Deno.stat(join(base.path, "swept")), "the sweep ran");
  for (const kind of ["cpu", "memory", "pids", "cpuacct"]) {
    // `0`: the writing thread (v1), the prologue's one.
    const tasks = await Deno.readTextFile(join(dir(kind), "tasks"));
    assert.equal(tasks, "0\n", `${kind} holds the plugin`);
  }
  assert.equal(stderr, "", "a try that succeeds leaves nothing on the plugin's stderr");
});

// A v1 join through `cgroup.procs` takes the kernel's global threadgroup lock for writing, which
// waits out an RCU grace period (8 to 30 ms a start here); a thread that moves itself (`0` to
// `tasks`) does not take it. The prologue's shell has one thread, so that moves the process. v2
// has no `tasks`: there the process joins through `cgroup.procs`. A folder that is not a cgroup
// (cgroupfs hidden under another mount) is joined by neither: the start ends, naming it.
Deno.test("prologue: v1 cgroups are joined through `tasks`, a v2 one through `cgroup.procs`, a plain folder not at all", async () => {
  await using base = await tempDir();
  const dir = (kind: string) => join(base.path, kind);
  const cgroupfs = async (kind: string) => {
    await Deno.mkdir(dir(kind));
    await Deno.writeTextFile(join(dir(kind), "tasks"), "");
    await Deno.writeTextFile(join(dir(kind), "cgroup.procs"), "");
  };
  const run = (version: 1 | 2) => runPrologue("/bin/sh", dir, version);
  for (const kind of ["cpu", "memory", "pids", "cpuacct"]) await cgroupfs(kind);
  const v1 = await run(1);
  assert.equal(v1.code, 0, v1.stderr);
  for (const kind of ["cpu", "memory", "pids", "cpuacct"]) {
    assert.equal(await Deno.readTextFile(join(dir(kind), "tasks")), "0\n", `${kind}: this thread`);
    assert.equal(await Deno.readTextFile(join(dir(kind), "cgroup.procs")), "", kind);
    await Deno.writeTextFile(join(dir(kind), "tasks"), "");
  }
  await Deno.remove(join(dir("cpu"), "tasks"));
  const v2 = await run(2);
  assert.equal(v2.code, 0, v2.stderr);
  assert.equal(await Deno.readTextFile(join(dir("cpu"), "cgroup.procs")), `${v2.pid}\n`);
  assert.equal(await Deno.readTextFile(join(dir("memory"), "tasks")), "0\n", "memory: v1");
  // A plain folder: no `tasks` (v1) or no `cgroup.procs` (v2) was made by the kernel.
  await Deno.writeTextFile(join(dir("cpu"), "tasks"), "");
  await Deno.remove(join(dir("pids"), "tasks"));
  const plain = await run(1);
  assert.equal(plain.code, 125);
  assert.match(plain.stderr, /cannot make or join the pids cgroup/);
  assert.equal(plain.pid, "", "the plugin never ran");
  await assert.rejects(Deno.stat(join(dir("pids"), "tasks")), Deno.errors.NotFound);
});

// Review 114's item: the prologue lowers the open-file limit to OPEN_FILES; where the host's own
// hard limit is lower already, it stays, and the start goes on (a non-root host cannot raise it).
for (const [hostLimit, expected] of [[20_000, OPEN_FILES], [1_000, 1_000]]) {
  Deno.test(`prologue: a host's open-file limit of ${hostLimit} becomes ${expected} for the plugin`, async () => {
    const argv = prologue("/bin/sh", { limits: { dataLimitBytes: 1 << 30 } });
    const out = await new Deno.Command("prlimit", {
      args: [
        `--nofile=${hostLimit}:${hostLimit}`,
        "--",
        ...argv,
        "/bin/sh",
        "-c",
        "ulimit -n; ulimit -H -n",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(out.code, 0, decode(out.stderr));
    assert.equal(decode(out.stdout), `${expected}\n${expected}\n`);
  });
}

// Review 169: where native code runs, the prologue holds the plugin's queued signals to
// PENDING_SIGNALS, soft and hard. dash has no `ulimit -i`: bash sets it just before the exec, and
// the plugin's environment gets no SHLVL from it. Without bash, such a start ends.
Deno.test("prologue: a plugin's pending signals are held to PENDING_SIGNALS, through bash where sh cannot", async () => {
  const run = async (closer?: null) => {
    const argv = prologue("/bin/sh", {
      limits: { dataLimitBytes: 1 << 30, pendingSignals: PENDING_SIGNALS },
      ...(closer === null ? { closer } : {}),
    });
    const out = await new Deno.Command(argv[0], {
      args: [
        ...argv.slice(1),
        "/bin/sh",
        "-c",
        'grep "^Max pending signals" /proc/self/limits; echo "SHLVL=${SHLVL-none}"',
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  };
  const held = await run();
  assert.equal(held.code, 0, held.stderr);
  assert.match(
    held.stdout,
    new RegExp(
      `^Max pending signals +${PENDING_SIGNALS} +${PENDING_SIGNALS} +signals *\nSHLVL=none\n$`,
    ),
  );
  const sh = Deno.realPathSync("/bin/sh");
  if (sh.endsWith("dash")) {
    const none = await run(null);
    assert.equal(none.code, 125);
    assert.match(
      none.stderr,
      /cannot limit the plugin's pending signals \(ulimit -i 1024\) and no bash/,
    );
  }
});
