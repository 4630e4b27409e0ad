// THREATS T26: a plugin burning CPU from Workers while it answers pings.
// The share is held (by a cgroup here, by the watchdog elsewhere) and a
// total ends it with reason "cpu-limit". Bounds are generous: the machine is
// shared, so only what a broken limit would break is asserted.
import assert from "node:assert/strict";
import { type PluginEvent, PluginExitedError, PluginHost, startPlugin } from "../../mod.ts";
import { ProcReader } from "../../runner/host/proc_reader.ts";
import { fixture, rejected, until, within } from "../_helpers.ts";
import { hostile, ISOLATIONS, pluginDenoPid, processesWith } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

/** CPU time (ms) a process tree uses over `ms` of wall time, with pings answered meanwhile. */
async function cpuOver(pid: number, ms: number, ping: () => Promise<unknown>) {
  await using reader = new ProcReader("sh");
  const cpu = async () => [...(await reader.tree(pid)).values()].reduce((a, b) => a + b, 0);
  const before = await cpu();
  const started = performance.now();
  let pings = 0;
  while (performance.now() - started < ms) {
    await within(ping(), 2000, "a ping from the burning plugin");
    pings++;
  }
  return { used: (await cpu()) - before, wall: performance.now() - started, pings };
}

/** The most CPU a plugin held to SHARE may use in `wall` ms, with room for a loaded machine. */
const SHARE = 0.2;
const allowance = (wall: number) => SHARE * wall * 1.25 + 100;

for (const isolation of ISOLATIONS) {
  Deno.test(`T26 [${isolation}]: a plugin burning two cores from Workers is held to its share, and still answers`, async () => {
    await using plugin = await startPlugin(hostile("t26_cpu_burn.ts"), {
      contracts: [Probe],
      isolation,
      cpu: { share: SHARE },
      memoryLimitMiB: 1536, // room for two Workers (each reserves its own address space)
    });
    assert.match(plugin.plan.notes.join("\n"), /cpu: 0\.2 core\(s\) held by/);
    const probe = plugin.api(Probe);
    assert.equal(await probe.attempt("burn 2"), "burning on 2 workers");
    const pid = pluginDenoPid(plugin.plan.nonce);
    const { used, wall, pings } = await cpuOver(pid, 1000, () => plugin.ping(2000));
    assert.ok(pings > 0);
    // Two spinning Workers would use up to 2 x wall; the share allows a fifth of one.
    assert.ok(used <= allowance(wall), `used ${used} ms of CPU in ${wall} ms`);
  });
}

Deno.test("T26 control: without a share the same plugin takes every core it can", async () => {
  await using plugin = await startPlugin(hostile("t26_cpu_burn.ts"), {
    contracts: [Probe],
    isolation: "deno",
    cpu: { share: 1024 },
    memoryLimitMiB: 1536,
  });
  await plugin.api(Probe).attempt("burn 2");
  const pid = pluginDenoPid(plugin.plan.nonce);
  const { used, wall } = await cpuOver(pid, 1000, () => plugin.ping(2000));
  // On a shared machine it gets less than two cores, but far more than a fifth of one.
  assert.ok(used > allowance(wall), `used ${used} ms of CPU in ${wall} ms`);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T26 [${isolation}]: a plugin past its total CPU time is ended, with reason "cpu-limit"`, async () => {
    await using plugin = await startPlugin(hostile("t26_cpu_burn.ts"), {
      contracts: [Probe],
      isolation,
      cpu: { totalMs: 600 },
      memoryLimitMiB: 1536,
    });
    await plugin.api(Probe).attempt("burn 2");
    const status = await within(plugin.exited, 20_000, "the plugin to be ended");
    assert.equal(status.reason, "cpu-limit");
    // The one kill path (kill_tree.ts): nothing of the plugin is left, under every layer.
    assert.deepEqual(processesWith(plugin.plan.nonce), [], "no process of this plugin is left");
    const error = await rejected<PluginExitedError>(plugin.api(Probe).attempt("ping"));
    assert.ok(error instanceof PluginExitedError);
    assert.match(error.message, /used up its CPU time/);
  });
}

Deno.test("the watchdog holds a share by pausing the tree where no cgroup can, with a host's narrow permissions", async () => {
  // No --allow-all: Deno cannot read /proc itself; the watchdog reads and signals through sh.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      `--allow-run=${Deno.execPath()},sh`,
      fixture("cpu_hold.ts").pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const { alone, held } = JSON.parse(new TextDecoder().decode(out.stdout));
  // The control: left alone, the burner takes far more than the share allows.
  assert.ok(alone.used > allowance(alone.wall), `alone: ${alone.used} ms in ${alone.wall} ms`);
  assert.ok(held.used <= allowance(held.wall), `held: ${held.used} ms in ${held.wall} ms`);
});

Deno.test("T26: a PluginHost does not restart a plugin that used up its CPU budget (a restart would renew it)", async () => {
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
  await host.start("burner", hostile("t26_cpu_burn.ts"), {
    contracts: [Probe],
    isolation: "deno",
    cpu: { totalMs: 600 },
    memoryLimitMiB: 1536,
    backoffInitialMs: 1,
  });
  await host.get("burner").api(Probe).attempt("burn 2").catch(() => {});
  await until(() => host.get("burner").state === "failed", 20_000, "the plugin to be failed");
  const exit = events.find((e) => e.type === "exit");
  assert.equal(exit?.type === "exit" && exit.status.reason, "cpu-limit");
  assert.equal(events.filter((e) => e.type === "start").length, 1, "started once, never again");
  assert.match(host.get("burner").failure ?? "", /CPU budget is used up/);
});
