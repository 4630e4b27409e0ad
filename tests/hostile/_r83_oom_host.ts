// Review 83: a host that may not read the cgroups (run with --deny-read=/sys/fs/cgroup), whose
// command plugin the memory cgroup's OOM killer ends; prints what each report of the exit says.
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";

const PY = new URL("./plugins/r82_py/main.py", import.meta.url);
await using plugin = await startPlugin(PY, {
  contracts: [Probe],
  isolation: "os",
  memoryLimitMiB: 128,
});
const call = await plugin.api(Probe).attempt([
  "import mmap",
  "memory = mmap.mmap(-1, 512 << 20)",
  "for page in range(0, 512 << 20, 4096): memory[page] = 1",
  "result = 'touched 512 MiB'",
].join("\n")).then(
  (value) => `resolved: ${value}`,
  (error) => String(error.reason),
);
const exitStatus = plugin.exitStatus?.reason;
const exited = (await plugin.exited).reason;
console.log(
  JSON.stringify({ cgroup: plugin.plan.cpu.cgroup !== undefined, call, exitStatus, exited }),
);
