/**
 * Review 136: ends a host (`_r136_host.ts`) abruptly and counts what it leaves. This process is a
 * child subreaper (PR_SET_CHILD_SUBREAPER), so every process the dead host leaves behind, however
 * it forked, is reparented to it and found among its descendants. Arguments: the host's
 * (isolation, handleSignals, phase, death, program, marker, cache), then the death's trigger for
 * phase "start": a text a descendant's command line holds (the driver sends the signal, or the
 * host dies, once it appears), or "" for none. A death that is a signal name is sent by the
 * driver. Prints one JSON line: `{ survivors, afterSweep, cgroups, cgroupsAfterSweep, left,
 * started, triggered }`.
 * @module
 */
import { descendantsOf, killTree } from "../../runner/sandbox/kill_tree.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { readText } from "../../runner/sandbox/proc_view.ts";

const [isolation, handle, phase, death, program, marker, cache, trigger = ""] = Deno.args;
const libc = Deno.dlopen("libc.so.6", {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "pointer", "i32"], result: "i32" },
});
if (libc.symbols.prctl(36, /* PR_SET_CHILD_SUBREAPER */ 1n, 0n, 0n, 0n) !== 0) {
  throw new Error("PR_SET_CHILD_SUBREAPER failed");
}
const reap = () => {
  while (libc.symbols.waitpid(-1, null, 1 /* WNOHANG */) > 0) {
    // one more
  }
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cmdline = (pid: number) => (readText(`/proc/${pid}/cmdline`) ?? "").replaceAll("\0", " ");
const mine = () => descendantsOf(Deno.pid, false).map((seen) => seen.pid);
const signal = /^SIG/.test(death) ? death as Deno.Signal : undefined;

const host = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    new URL("./_r136_host.ts", import.meta.url).pathname,
    isolation,
    handle,
    phase,
    signal ? "wait" : death,
    program,
    marker,
    cache,
  ],
  stdin: "null",
  stdout: "piped",
  stderr: "null",
}).spawn();
const lines = host.stdout.pipeThrough(new TextDecoderStream()).getReader();
let out = "";
let exited = false;
const status = host.status.then((s) => {
  exited = true;
  return s;
});
const reading = (async () => {
  for (;;) {
    const { value, done } = await lines.read();
    if (done) return;
    out += value;
  }
})();
let triggered = false;
let cgroups: string[] = [];
const end = Date.now() + 60_000;
if (phase === "start") {
  if (trigger) {
    while (!exited && Date.now() < end) {
      if (mine().some((pid) => pid !== host.pid && cmdline(pid).includes(trigger))) break;
      await pause(0);
    }
    triggered = !exited;
    if (signal) host.kill(signal);
  } else if (signal) host.kill(signal);
} else {
  while (!out.includes("\n") && !exited && Date.now() < end) await pause(10);
  const ready = /^ready (.*)$/m.exec(out);
  if (!ready) throw new Error(`the host was not ready: ${out}`);
  cgroups = JSON.parse(ready[1]);
  if (signal) host.kill(signal);
}
// A host that handles the signal stops its plugins first (at most 3.5 s: grace 2 s, term 1 s).
let timer: ReturnType<typeof setTimeout> | undefined;
const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 15_000));
const ended = await Promise.race([status.then(() => true), late]);
clearTimeout(timer);
if (!ended) host.kill("SIGKILL");
await status;
await reading;
// What the host left must end within 250 ms by itself (death signals, the SIGKILLs its exit sent
// before it ended). Not longer: any plugbox host's first start on this machine sweeps the cgroups
// of hosts that are gone, killing what they hold, and would hide what this host left.
let left: number[] = [];
for (let waited = 0; waited < 250; waited += 10) {
  reap();
  left = mine();
  if (left.length === 0) break;
  await pause(10);
}
const survivors = left.map(cmdline);
const holding = (dirs: string[]) =>
  dirs.filter((dir) => {
    try {
      Deno.statSync(dir);
      return true;
    } catch {
      return false;
    }
  }).map((dir) =>
    `${dir}: ${(readText(`${dir}/cgroup.procs`) ?? "").trim().split("\n").join(" ")}`
  );
const cgroupsLeft = holding(cgroups);
// The next host's first use of cgroups sweeps what dead hosts left.
await findControllers("/bin/sh");
let afterSweep: number[] = [];
for (let waited = 0; waited < 3_000; waited += 20) {
  reap();
  afterSweep = mine();
  if (afterSweep.length === 0) break;
  await pause(20);
}
const survivorsAfterSweep = afterSweep.map(cmdline);
const cgroupsAfterSweep = holding(cgroups);
for (const pid of afterSweep) await killTree(pid, false);
await pause(50);
reap();
console.log(JSON.stringify({
  ended,
  code: (await status).code,
  signal: (await status).signal,
  started: out.includes("started"),
  triggered,
  survivors,
  cgroups: cgroupsLeft,
  survivorsAfterSweep,
  cgroupsAfterSweep,
}));
