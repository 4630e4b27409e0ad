/**
 * Review 121's host, run by tests/hostile/r121_test.ts as a process of its own, started with
 * descriptors 5 and 12 open (FIFOs holding a secret each), as a shell or a CI runner leaves them.
 * `<layer> deno|python`: starts r121_inherited_fds.ts (granted nothing) or py_probe, has it try
 * both descriptors, prints what it said on one line, and stops it.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const [isolation, kind] = Deno.args;
const file = kind === "python" ? "py_probe/main.py" : "r121_inherited_fds.ts";
await using plugin = await startPlugin(hostile(file), {
  contracts: [Probe],
  isolation: isolation as "deno" | "os" | "landlock",
});
const probe = plugin.api(Probe);
const said = kind === "python"
  ? [await probe.attempt("read-fd:5"), await probe.attempt("read-fd:12")].join("; ")
  : await probe.attempt("5,12");
console.log(JSON.stringify({ layer: plugin.isolation, said }));
