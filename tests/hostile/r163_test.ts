// Review 163: review 161 gave a root host's memory cgroup 64 MiB beside a command plugin's cap for
// the egress relay that runs in its sandbox when it is granted net, and the plugin could use them:
// a plugin of 32 MiB held 76 MiB of shared memory, 88 of memfd, 68 in child processes, 64 in its
// /tmp (all of it), and by filling its tmpfs folders, which no process's size shows, had the
// kernel's OOM killer end its relay instead of itself (its network then went without a word). The plugin now runs in a memory cgroup of its own inside that
// one, held to its cap; the launcher joins it through a descriptor just before the exec, and the
// plugin, with no cgroup file system mounted, cannot leave it. Every path out removes both.
import assert from "node:assert/strict";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { exists, rejected, testDeadline, until, within } from "../_helpers.ts";
import { cgroupBases, cgroupsNamed, hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const PLUGIN = hostile("r163_memory/main.py");
const HOST = fileURLToPath(new URL("./_r163_host.ts", import.meta.url));
const MIB = 1024 * 1024;

/** A server on 127.0.0.1 that answers each request with 1 MiB: the relay carries it. */
function server(): Deno.HttpServer<Deno.NetAddr> & { target: string } {
  const body = new Uint8Array(MIB).fill(0x61);
  const served = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  return Object.assign(served, { target: `127.0.0.1:${served.addr.port}` });
}

/** The plugin of 32 MiB under the OS layer, granted net to `target` (so its relay runs). */
function start(
  target: string,
  options: { signal?: AbortSignal; env?: Record<string, string> } = {},
) {
  return startPlugin(PLUGIN, {
    contracts: [Probe],
    isolation: "os",
    memoryLimitMiB: 32,
    permissions: { net: [target], ...(options.env ? { env: options.env } : {}) },
    unsafe: { privateNetwork: true },
    signal: options.signal,
  });
}

/** This process's cgroups of the r163 plugin there are now, and the plugin's own inside them. */
async function ours(): Promise<string[]> {
  return cgroupsNamed(await cgroupBases(), Deno.pid, "r163_memory");
}

const read = (file: string) => Deno.readTextFileSync(file);
const oomKills = (dir: string) =>
  Number(/^oom_kill (\d+)$/m.exec(read(`${dir}/memory.oom_control`))?.[1]);
const members = (dir: string) =>
  read(`${dir}/cgroup.procs`).split("\n").filter(Boolean).map(Number);
const cmdline = (pid: number) => read(`/proc/${pid}/cmdline`).replaceAll("\0", " ");

for (const kind of ["shared", "memfd", "tmp", "forks"]) {
  Deno.test(`r163 [os]: a command plugin of 32 MiB granted net that holds ${kind} memory past its cap is killed at its cap, as out of memory, and leaves no cgroup`, async () => {
    testDeadline(90_000);
    await using served = server();
    await using plugin = await start(served.target);
    const cgroup = plugin.plan.cpu.cgroup;
    assert.ok(cgroup?.pluginMemoryDir, "the plugin has a memory cgroup of its own");
    const probe = plugin.api(Probe);
    let held = 0;
    // 4 MiB at a time, up to three times its cap.
    const error = await within(
      rejected<PluginExitedError>((async () => {
        while (held < 96) {
          const said = await probe.attempt(`hold ${kind}`);
          assert.match(said, /^holds \d+ MiB$/, `at ${held} MiB: ${said}`);
          held += 4;
        }
      })()),
      60_000,
      "the OOM kill",
    );
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal(error.reason, "out-of-memory", error.message);
    assert.ok(held >= 8 && held < 32, `held ${held} MiB past what it began with`);
    assert.equal((await plugin.exited).reason, "out-of-memory");
    assert.deepEqual(await ours(), [], "its cgroups are gone once it has exited");
  });
}

Deno.test("r163 [os]: a command plugin of 32 MiB granted net that fills its tmpfs folders is killed at its cap, its relay carrying its traffic until then", async () => {
  testDeadline(90_000);
  await using served = server();
  await using plugin = await start(served.target);
  const memoryDir = plugin.plan.cpu.cgroup?.memoryDir;
  assert.ok(memoryDir, "a root host puts the plugin in a memory cgroup");
  const probe = plugin.api(Probe);
  let held = 0;
  let carried = 0;
  // Files in /tmp (64 MiB) and then /dev/shm (16 MiB): memory no process's size shows, so the
  // OOM killer of the cgroup that held the relay too picked the relay (Deno, about 30 MiB).
  const error = await within(
    rejected<PluginExitedError>((async () => {
      while (held < 80) {
        const said = await probe.attempt(`hold ${held < 60 ? "tmp" : "shm"}`);
        assert.match(said, /^holds \d+ MiB$/, `at ${held} MiB: ${said}`);
        held += 4;
        const through = await probe.attempt(`connect ${served.target}`);
        const bytes = Number(/^connected: 200 (\d+) bytes$/.exec(through)?.[1]);
        assert.ok(bytes > MIB, `the relay carried 1 MiB at ${held} MiB: ${through}`);
        assert.equal(oomKills(memoryDir), 0, `the relay's cgroup saw no OOM kill at ${held} MiB`);
        carried++;
      }
    })()),
    60_000,
    "the OOM kill",
  );
  assert.ok(error instanceof PluginExitedError, String(error));
  assert.equal(error.reason, "out-of-memory", error.message);
  assert.ok(carried >= 2 && held < 32, `held ${held} MiB, ${carried} transfers of 1 MiB`);
});

Deno.test("r163 [os]: a command plugin granted net and every process it makes are in its own memory cgroup, which it cannot leave; its relay is not", async () => {
  testDeadline(60_000);
  await using served = server();
  await using plugin = await start(served.target);
  const cgroup = plugin.plan.cpu.cgroup;
  assert.ok(
    cgroup?.memoryDir && cgroup.pluginMemoryDir,
    "the plugin has a memory cgroup of its own",
  );
  assert.equal(read(`${cgroup.pluginMemoryDir}/memory.limit_in_bytes`).trim(), String(32 * MIB));
  assert.equal(
    read(`${cgroup.pluginMemoryDir}/memory.kmem.tcp.limit_in_bytes`).trim(),
    String(32 * MIB),
  );
  const said = await plugin.api(Probe).attempt("escape");
  assert.match(said, /^escape: /, said);
  const seen = JSON.parse(said.slice("escape: ".length));
  // Its own, as its cgroup namespace shows it, and its child's; no descriptor of a cgroup file.
  assert.equal(seen.cgroup.length, 1, JSON.stringify(seen.cgroup));
  assert.match(seen.cgroup[0], /^\d+:memory:\/plugin$/);
  assert.equal(seen["child cgroup"], seen.cgroup[0]);
  assert.ok(seen.fds.every((path: string) => !path.includes("cgroup")), JSON.stringify(seen.fds));
  // No cgroup file system to write in, none to mount.
  assert.notEqual(seen["mount cgroup"], "mounted");
  assert.notEqual(seen["mount cgroup2"], "mounted");
  assert.notEqual(seen["/sys/fs/cgroup/memory/cgroup.procs"], "written");
  assert.notEqual(seen["/sys/fs/cgroup/cgroup.procs"], "written");
  // From the host: the plugin (python) alone in its own, the relay in the one that holds it.
  const own = members(cgroup.pluginMemoryDir);
  assert.ok(own.length >= 1 && own.every((pid) => cmdline(pid).includes("main.py")), String(own));
  const outer = members(cgroup.memoryDir).map(cmdline);
  assert.ok(outer.some((line) => line.includes("relay.js")), outer.join("\n"));
  const names = members(cgroup.memoryDir).map((pid) => read(`/proc/${pid}/comm`).trim());
  assert.ok(names.every((name) => !name.startsWith("python")), names.join(", "));
  assert.equal(dirname(cgroup.pluginMemoryDir), cgroup.memoryDir);
});

Deno.test("r163 [os]: a Deno plugin granted net runs in its own memory cgroup at its cap, its relay beside it", async () => {
  testDeadline(60_000);
  await using plugin = await startPlugin(hostile("r87_run_net.ts"), {
    contracts: [Probe],
    isolation: "os",
    memoryLimitMiB: 64,
    permissions: { net: ["127.0.0.1:9"] },
    unsafe: { privateNetwork: true },
  });
  const cgroup = plugin.plan.cpu.cgroup;
  assert.ok(
    cgroup?.memoryDir && cgroup.pluginMemoryDir,
    "the plugin has a memory cgroup of its own",
  );
  // A Deno plugin's cap is its heap and 768 MiB more (README).
  assert.equal(
    read(`${cgroup.pluginMemoryDir}/memory.limit_in_bytes`).trim(),
    String((64 + 768) * MIB),
  );
  const own = members(cgroup.pluginMemoryDir).map(cmdline);
  assert.ok(own.length === 1 && own[0].includes("r87_run_net.ts"), own.join("\n"));
  const outer = members(cgroup.memoryDir).map(cmdline);
  assert.ok(outer.some((line) => line.includes("relay.js")), outer.join("\n"));
});

Deno.test("r163 [os]: a command plugin granted net leaves neither memory cgroup behind when stopped, or when its start is aborted", async () => {
  testDeadline(90_000);
  await using served = server();
  await using plugin = await start(served.target);
  const { memoryDir, pluginMemoryDir } = plugin.plan.cpu.cgroup ?? {};
  assert.ok(memoryDir && pluginMemoryDir, "the plugin has a memory cgroup of its own");
  await plugin.api(Probe).attempt("hold shared");
  assert.ok(members(pluginMemoryDir).length > 0);
  await plugin.close();
  assert.deepEqual(await ours(), [], "its cgroups are gone once it is stopped");

  // Aborted while its launcher has joined its own cgroup and the plugin waits before its handshake.
  const abort = new AbortController();
  const starting = start(served.target, { signal: abort.signal, env: { R163_SLOW: "1" } });
  const failed = rejected(starting);
  const joined = () =>
    ours().then((dirs) =>
      dirs.some((dir) =>
        basename(dir) === "plugin" && members(dir).some((pid) => cmdline(pid).includes("main.py"))
      )
    ).catch(() => false);
  await until(joined, 30_000, "the plugin in its own memory cgroup");
  abort.abort();
  const error = await within(failed, 30_000, "the aborted start");
  assert.equal((error as Error).name, "AbortError", String(error));
  await until(async () => (await ours()).length === 0, 5_000, "its cgroups' removal")
    .catch(async () => assert.deepEqual(await ours(), [], "its cgroups are gone after the abort"));
});

// The next host sweeps in its own process with --allow-all, else in a shell.
const SWEEPERS = {
  here: ["--allow-all"],
  shell: ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
};

for (const [sweeper, flags] of Object.entries(SWEEPERS)) {
  Deno.test(`r163 [os]: a SIGKILLed host's plugin granted net leaves its memory cgroups only until the next host's sweep (${sweeper})`, async () => {
    testDeadline(90_000);
    await using served = server();
    const first = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", HOST, "start", PLUGIN, served.target],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = first.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    try {
      while (!text.includes("\n")) {
        const { value, done } = await within(reader.read(), 30_000, "the first host's plugin");
        if (done) break;
        text += value;
      }
    } finally {
      first.kill("SIGKILL");
      await first.status;
      await reader.cancel();
    }
    const cgroup = JSON.parse(text);
    const dirs = [
      cgroup.dir,
      cgroup.memoryDir,
      cgroup.pluginMemoryDir,
      cgroup.pidsDir,
      cgroup.cpuacctDir,
    ]
      .filter(Boolean);
    assert.ok(cgroup.pluginMemoryDir, "the plugin had a memory cgroup of its own");
    // Its sandbox dies with it (bubblewrap's death signal), and leaves its cgroups.
    // (Another host's sweep may take them meanwhile: this one must, if none did.)
    const empty = () =>
      !exists(cgroup.pluginMemoryDir) || members(cgroup.pluginMemoryDir).length === 0;
    await until(empty, 10_000, "the sandbox's end");
    const second = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, HOST, "sweep"],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(new TextDecoder().decode(second.stdout).trim(), "swept");
    assert.deepEqual(dirs.filter((dir) => exists(dir)), [], "the next host's sweep left them");
  });
}

Deno.test("r163 [os]: a command plugin granted net that floods its relay's connections to a target that reads nothing keeps the relay within its own memory, and its network", async () => {
  testDeadline(90_000);
  await using served = server();
  // A target that takes connections and reads nothing from them.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) taken.push(conn);
  })().catch(() => {});
  try {
    const quiet = `127.0.0.1:${silent.addr.port}`;
    await using plugin = await startPlugin(PLUGIN, {
      contracts: [Probe],
      isolation: "os",
      memoryLimitMiB: 32,
      permissions: { net: [served.target, quiet] },
      unsafe: { privateNetwork: true },
    });
    const { memoryDir, pluginMemoryDir } = plugin.plan.cpu.cgroup ?? {};
    assert.ok(memoryDir && pluginMemoryDir, "the plugin has a memory cgroup of its own");
    const probe = plugin.api(Probe);
    // As many connections as the relay takes, each sent into until the kernel takes no more.
    const flooded = await within(probe.attempt(`flood ${quiet} 256`), 60_000, "the flood");
    assert.match(flooded, /^flooded 256 connections, \d+ MiB$/, flooded);
    const usage = (dir: string) => Number(read(`${dir}/memory.usage_in_bytes`).trim());
    // What the relay (and bubblewrap) hold: before, 67 to 74 MiB, past the 64 kept for them.
    const relay = (usage(memoryDir) - usage(pluginMemoryDir)) / MIB;
    assert.ok(relay < 48, `the relay holds ${relay.toFixed(1)} MiB after the flood (${flooded})`);
    assert.equal(await probe.attempt("unflood"), "closed 256 connections");
    // The proxy's connections end as the plugin's do: once one is free, the relay carries again.
    const carried = async () =>
      /^connected: 200 \d+ bytes$/.test(await probe.attempt(`connect ${served.target}`));
    await until(carried, 30_000, "a transfer through the relay");
    assert.equal(oomKills(memoryDir), 0, "no OOM kill in the relay's cgroup");
  } finally {
    silent.close();
    await accepting;
    for (const conn of taken) conn.close();
  }
});
