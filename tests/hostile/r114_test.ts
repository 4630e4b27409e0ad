// test runner: alone (it sets the limit of the folder every plugin's pids cgroup is made in: before
// review 164 its plugins took every task of that budget, and a neighbour's plugin could not make its
// threads, "Deno could not start: unable to create worker threads", seen once beside R88's test)
// Review 114: a plugin that uses more of the machine than its limits say. A v1 memory cgroup
// charges no socket buffer (TCP or UDP) until it is given a cap of its own for them: a command
// plugin capped at 64 MiB held 259 MiB in TCP and 262 MiB in UDP buffers on its own loopback, up
// to the machine's tcp_mem and udp_mem, which every socket on the machine shares.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { OPEN_FILES } from "../../runner/sandbox/prologue.ts";
import { hostile } from "./_hostile.ts";
import { rejected, within } from "../_helpers.ts";
import { Probe } from "./plugins/probe.ts";

const HOARDS = fileURLToPath(
  new URL("./plugins/r114_hoards_sockets/main.py", import.meta.url),
);
const SAYS_OOM = fileURLToPath(new URL("./plugins/r114_claims_oom/main.py", import.meta.url));

for (const kind of ["tcp", "udp"]) {
  Deno.test(`r114 [os]: what a command plugin holds in its ${kind.toUpperCase()} sockets' buffers is capped by its memory cgroup`, async () => {
    await using plugin = await startPlugin(HOARDS, {
      contracts: [Probe],
      isolation: "os",
      memoryLimitMiB: 64,
    });
    if (plugin.plan.cpu.cgroup?.memoryDir === undefined) {
      // Documented (README, "Memory and processes"): without a memory cgroup only the per-process
      // cap holds, and the kernel's buffers escape it.
      assert.notEqual(Deno.uid(), 0, "a root host makes cgroups here");
      return;
    }
    // It asks for four times its cap; the kernel stops charging past the cap (new sockets then
    // hold only the few KiB each the kernel always allows), so it stops well short.
    const outcome = await within(
      plugin.api(Probe).attempt(`${kind} 256`),
      30_000,
      "the hoard",
    );
    const held = Number(/^held (\d+) MiB$/.exec(outcome)?.[1]);
    assert.ok(held < 96, `the plugin capped at 64 MiB holds: ${outcome}`);
  });
}

// A command plugin is no V8: its own words on stderr before an abort it chose made its crash an
// out-of-memory verdict. A real one is the memory cgroup's OOM kill, which its count tells.
Deno.test("r114 [os]: a command plugin that prints V8's out-of-memory words and aborts is reported as the abort it is", async () => {
  await using plugin = await startPlugin(SAYS_OOM, { contracts: [Probe], isolation: "os" });
  const call = plugin.api(Probe).attempt("claim");
  const error = await within(rejected<PluginExitedError>(call), 30_000, "the plugin's death");
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.signal, "SIGABRT", error.message);
  assert.equal(error.reason, "exited", error.message);
  assert.equal((await plugin.exited).reason, "exited");
});

// Review 114's item: each plugin's pids cgroup holds it to 8,192 tasks, but the machine has only
// pid_max of them (32,768 here): four Python plugins of no grants, each making 8,189 threads in
// 2 s within its memory cap, would leave no pid for the host or anything else on the machine.
// The folder every plugin's pids cgroup is made in now holds them all to half of the machine's,
// set by a host's probe of the controllers. Each run is a host of its own (its probe its first),
// the folder's limit first put back to none; enough plugins to pass that half without it, each
// making threads until one more is refused. With all of Deno's permissions the host sets it
// itself, with fewer through sh. Since review 164 each plugin holds only its share of that half
// (prologue.ts), so the total stays under it by the reservations too: the folder's limit is what
// the test still checks.
const TASKS_HOST = fileURLToPath(new URL("./_r114_tasks_host.ts", import.meta.url));

for (
  const [how, flags] of [
    ["itself", ["--allow-all"]],
    ["through sh", ["--allow-read", "--allow-write", "--allow-env", "--allow-run"]],
  ] as const
) {
  Deno.test(`r114 [os]: every plugin's tasks together are held to half of the machine's (set ${how})`, async () => {
    assert.equal(Deno.uid(), 0, "plugbox makes pids cgroups as root; CI runs as root");
    const read = (path: string) => Deno.readTextFileSync(path).trim();
    const half = Math.floor(
      Math.min(
        Number(read("/proc/sys/kernel/pid_max")),
        Number(read("/proc/sys/kernel/threads-max")),
      ) / 2,
    );
    const count = Math.floor(half / 8192) + 1;
    assert.ok(
      count <= 4,
      `this test makes ${count} plugins of 8,192 tasks: pid_max is larger here`,
    );
    const base = (await findControllers("sh"))?.pids;
    assert.ok(base, "a pids controller plugbox may use");
    Deno.writeTextFileSync(`${base}/pids.max`, "max");
    const { code, stdout, stderr } = await within(
      new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, TASKS_HOST, String(count)],
        stdout: "piped",
        stderr: "piped",
      }).output(),
      60_000,
      "the host of many tasks",
    );
    const said = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const made: string[] = JSON.parse(said);
    const total = made.map((one) => Number(/^tasks: (\d+)$/.exec(one)?.[1]))
      .reduce((a, b) => a + b);
    assert.ok(total > 0 && total <= half, `${said}: ${total} tasks, half is ${half}`);
    assert.equal(read(`${base}/pids.max`), String(half));
    // A lower limit (an administrator's) is kept.
    Deno.writeTextFileSync(`${base}/pids.max`, String(half - 1));
    const probed = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, TASKS_HOST, "probe"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(probed.stdout), "probed\n");
    assert.equal(read(`${base}/pids.max`), String(half - 1));
    Deno.writeTextFileSync(`${base}/pids.max`, String(half));
  });
}

// Review 114's item: a plugin's process inherited the host's open-file limit (20,000 here), and a
// descriptor is kernel memory no per-process cap counts: 2,000 socket pairs held 444 MiB of
// buffers. The prologue lowers it to 4,096 (soft and hard). A Python plugin makes pipes, a Deno
// plugin opens the file it may read, each until one more is refused.
Deno.test("r114 [os]: a command plugin holds at most 4,096 files open", async () => {
  await using plugin = await startPlugin(hostile("py_probe/main.py"), {
    contracts: [Probe],
    isolation: "os",
  });
  const said = await plugin.api(Probe).attempt("fds:10000");
  const pipes = Number(/^pipes: (\d+), then OSError$/.exec(said)?.[1]);
  assert.ok(pipes > 1000 && pipes * 2 <= OPEN_FILES, said);
});

for (const isolation of ["deno", "landlock"] as const) {
  Deno.test(`r114 [${isolation}]: a Deno plugin holds at most 4,096 files open`, async () => {
    const file = await Deno.makeTempFile({ prefix: "plugbox-r114-" });
    try {
      await using plugin = await startPlugin(hostile("r114_opens_files.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { read: [file] },
      });
      const said = await plugin.api(Probe).attempt(`${file}|10000`);
      const opened = Number(/^opened (\d+), then \w+$/.exec(said)?.[1]);
      assert.ok(opened > 1000 && opened <= OPEN_FILES, said);
    } finally {
      await Deno.remove(file);
    }
  });
}
