/**
 * Review 136's host, run by tests/hostile/_r136_driver.ts as a process of its own, which ends it
 * abruptly. Arguments: isolation, `handleSignals` ("1" or "0"; "plugin": no PluginHost, the
 * plugin of `startPlugin`, phase "call" only), phase, death, the program a run
 * grant names (r136_child.c, built), a marker, the cache folder.
 * Phases: "call" (the plugin left its run grant's processes: prints `ready` and its cgroups),
 * "standby" (a hot standby is ready: prints `ready`), "start" (dies while the start runs, where
 * the driver kills it or after a delay the driver gives as the death's suffix: `exit:40`).
 * Deaths: "exit" (Deno.exit), "throw" (an uncaught exception), "reject" (an unhandled
 * rejection), or "wait" (the driver sends a signal).
 * @module
 */
import { PluginHost, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile, processesWith } from "./_hostile.ts";

const [isolation, handle, phase, deathArg, program, marker, cacheDir] = Deno.args;
const [death, delay] = deathArg.split(":");

function die(): void {
  if (death === "exit") Deno.exit(0);
  if (death === "throw") {
    setTimeout(() => {
      throw new Error("r136: the host's uncaught error");
    });
  }
  if (death === "reject") void Promise.reject(new Error("r136: the host's unhandled rejection"));
}

let standby: (() => void) | undefined;
const standbyReady = new Promise<void>((resolve) => standby = resolve);
const host = new PluginHost({
  handleSignals: handle === "1",
  onEvent: (event) => event.type === "standby" && event.change === "ready" && standby!(),
});
const options = {
  contracts: [Probe],
  isolation: isolation as "deno",
  ...(cacheDir ? { cacheDir } : {}),
  permissions: { run: [program] },
  unsafe: { run: true },
  hotStandby: phase === "standby",
};
if (phase === "start") {
  if (delay !== undefined) setTimeout(die, Number(delay));
  await host.start("p", hostile("r136_forks.ts"), options);
  console.log("started"); // the start ended before the death: the driver says so
} else if (handle === "plugin") {
  // A standby is the host's: startPlugin refuses the option it does not take (review 165).
  const { hotStandby: _, ...startOptions } = options;
  const plugin = await startPlugin(hostile("r136_forks.ts"), startOptions);
  await plugin.api(Probe).attempt(`${program} ${marker}`);
  while (processesWith(marker).length < 2) await new Promise((r) => setTimeout(r, 5));
  const cgroup = plugin.plan.cpu.cgroup;
  const dirs = cgroup ? [cgroup.dir, cgroup.memoryDir, cgroup.pidsDir, cgroup.cpuacctDir] : [];
  console.log(`ready ${JSON.stringify(dirs.filter(Boolean))}`);
  die();
} else {
  const managed = await host.start("p", hostile("r136_forks.ts"), options);
  if (phase === "call") {
    await managed.api(Probe).attempt(`${program} ${marker}`);
    while (processesWith(marker).length < 2) await new Promise((r) => setTimeout(r, 5));
  } else await standbyReady;
  const cgroup = managed.current?.plan.cpu.cgroup;
  const dirs = cgroup ? [cgroup.dir, cgroup.memoryDir, cgroup.pidsDir, cgroup.cpuacctDir] : [];
  console.log(`ready ${JSON.stringify(dirs.filter(Boolean))}`);
  die();
}
setInterval(() => {}, 60_000);
