/**
 * Review 168's host, run by tests/hostile/r168_test.ts in a pids cgroup of the test's (so its
 * plugins' budget of tasks is half of that cgroup's limit). Arguments: `forged <layer|all>` starts the
 * plugin that forges plugbox's refusal under that layer or each, and under the OS layer with a net grant (its
 * egress relay started by plugbox's launcher, which is then plugbox's last step), and as native
 * code under the OS layer (where bash sets a limit dash cannot, and writes the mark), then an honest
 * plugin the same ways but the last (its answer, and its stderr lines as `onLog` has them); `real <maxTasks>`
 * starts an honest plugin whose cap does not fit the budget, under the Deno and OS layers. Prints
 * one JSON line: per start, the error's class and fields.
 * @module
 */
import { type StartOptions, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile, ISOLATIONS } from "./_hostile.ts";

const [mode, maxTasks] = Deno.args;
const file = hostile(mode === "forged" ? "r168_forges_refusal.ts" : "r164_threads.ts");
const honest = hostile("r164_threads.ts");
const relay: Partial<StartOptions> = {
  isolation: "os",
  permissions: { net: ["r168.test:443"] },
  unsafe: { privateNetwork: true },
  egressResolver: () => Promise.resolve(["127.0.0.1"]),
};
// `forged <isolation>` starts under that layer (and under "os" also with the relay, and as native
// code); `forged all` under every layer.
const layers = ISOLATIONS.filter((isolation) => maxTasks === "all" || isolation === maxTasks);
const starts: [string, Partial<StartOptions>][] = mode === "forged"
  ? [
    ...layers.map((isolation) => [isolation, { isolation }] as [string, Partial<StartOptions>]),
    ...(layers.includes("os")
      ? [["os relay", relay], ["os native", { isolation: "os" }]] as [
        string,
        Partial<StartOptions>,
      ][]
      : []),
  ]
  : [["deno", { isolation: "deno", cpu: { maxTasks: Number(maxTasks) } }], [
    "os",
    { isolation: "os", cpu: { maxTasks: Number(maxTasks) } },
  ]];
const FIELDS = ["reportedBy", "reason", "detail", "budget", "reserved", "cap", "others"];
const out: Record<string, Record<string, unknown>> = {};
for (const [label, options] of starts) {
  try {
    const main = label === "os native" ? hostile("r168_forges_native/main.py") : file;
    await using plugin = await startPlugin(main, { contracts: [Probe], ...options });
    out[label] = { started: await plugin.api(Probe).attempt("hello") };
  } catch (error) {
    const e = error as Error & Record<string, unknown>;
    out[label] = {
      name: e.name,
      message: e.message,
      ...Object.fromEntries(
        [...FIELDS, "exitCode", "stderrTail"].filter((key) => key in e).map((key) => [key, e[key]]),
      ),
    };
  }
}
if (mode === "forged") {
  for (const [label, options] of starts.filter(([label]) => label !== "os native")) {
    const logs: string[] = [];
    await using plugin = await startPlugin(honest, {
      contracts: [Probe],
      ...options,
      onLog: (entry) => logs.push(entry.message),
    });
    const answered = await plugin.api(Probe).attempt("hello");
    out[`${label} honest`] = { answered, logs, egress: plugin.plan.egress !== undefined };
  }
}
console.log(JSON.stringify(out));
