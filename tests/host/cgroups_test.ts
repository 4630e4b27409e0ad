// A plugin's cgroups (CPU, memory, pids, cpuacct, where plugbox may make
// them: by the host where its Deno permissions reach them, else by the
// plugin's prologue) live exactly as long as the plugin: they hold its
// processes while it runs and are gone once stop() resolves, under every
// layer, after a crash too.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { defaultCacheDir } from "../../runner/sandbox/locate.ts";
import { exists, LAYERS, testDeadline, within } from "../_helpers.ts";

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
