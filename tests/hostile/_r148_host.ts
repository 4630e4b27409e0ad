/**
 * Review 148's host, run by tests/hostile/r148_test.ts as a process of its own (as uid 65534
 * there, a host that cannot make cgroups, or with a core-dump limit it chose). `<attempt>`:
 * starts r148_machine (a Python plugin granted nothing) under the OS layer, passes it the
 * attempt, prints on one line whether it had a pids cgroup and what it said, and stops it.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const [attempt] = Deno.args;
await using plugin = await startPlugin(hostile("r148_machine/main.py"), {
  contracts: [Probe],
  isolation: "os",
  callTimeout: 300_000,
});
const said = await plugin.api(Probe).attempt(attempt);
const pids = plugin.plan.cpu.cgroup?.pidsDir !== undefined;
console.log(JSON.stringify({ layer: plugin.isolation, pids, said }));
