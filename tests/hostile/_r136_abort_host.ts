/**
 * Review 136: a host that aborts its first start the moment a planning helper whose command line
 * holds `needle` runs (the bubblewrap probe, ldd: made once per host process, for every start),
 * waits for the start's rejection, and prints what it still has running then, as one JSON line:
 * `{ seen, left }` (`left`: command lines of this process's descendants). Arguments: isolation,
 * needle.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { descendantsOf } from "../../runner/sandbox/kill_tree.ts";
import { readText } from "../../runner/sandbox/proc_view.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const [isolation, needle] = Deno.args;
const cmdline = (pid: number) => (readText(`/proc/${pid}/cmdline`) ?? "").replaceAll("\0", " ");
const running = () => descendantsOf(Deno.pid, false).map(({ pid }) => cmdline(pid));
const abort = new AbortController();
const start = startPlugin(hostile("r136_forks.ts"), {
  contracts: [Probe],
  isolation: isolation as "os",
  signal: abort.signal,
});
let settled = false;
start.then((plugin) => plugin.close(), () => {}).finally(() => settled = true);
let seen = false;
while (!settled && !(seen = running().some((line) => line.includes(needle)))) {
  await new Promise((resolve) => setTimeout(resolve, 0));
}
abort.abort(new DOMException("r136: the start was stopped", "AbortError"));
await start.catch(() => {});
console.log(JSON.stringify({ seen, left: running() }));
