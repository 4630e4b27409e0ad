/**
 * Review 114's host of many plugins' tasks, run by tests/hostile/r114_test.ts as a process of its
 * own, so that its probe of the cgroup controllers is its first: `<count>` Python plugins each
 * make threads until one more is refused; prints what each said, as JSON, then closes them.
 * `probe`: the probe alone.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

if (Deno.args[0] === "probe") {
  await findControllers("/bin/sh");
  console.log("probed");
  Deno.exit(0);
}
const plugins = await Promise.all(
  Array.from(
    { length: Number(Deno.args[0]) },
    () => startPlugin(hostile("py_probe/main.py"), { contracts: [Probe], isolation: "os" }),
  ),
);
try {
  if (!plugins.every((plugin) => plugin.plan.cpu.cgroup?.pidsDir)) {
    throw new Error("no pids cgroup");
  }
  console.log(JSON.stringify(
    await Promise.all(plugins.map((plugin) => plugin.api(Probe).attempt("tasks:8192"))),
  ));
} finally {
  await Promise.all(plugins.map((plugin) => plugin.close()));
}
