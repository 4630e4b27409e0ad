// Review 103, attack on review 102's sweep (runner/sandbox/cgroup_probe.ts): it SIGKILLs what a
// cgroup named "plugbox-<pid>-…" holds, and stops its forks, once /proc says the pid is gone. A pid
// names a process in one pid namespace only: a host in a container's or an unshared namespace,
// beside the others' cgroups, names its cgroups for a pid the others' /proc does not show (or
// shows as another process), and reads theirs the same way. The sweep of a host outside killed a
// live host's plugin inside, and one inside set a live host's plugins' pids.max to 0 outside.
// Names carry the pid namespace now, and a sweep kills only in its own.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testDeadline, until, within } from "../_helpers.ts";
import { processesWith } from "./_hostile.ts";
import { cgroupName, findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import {
  chargeHost,
  hostAllows,
  joinHostBudget,
  STDERR_HOST_MS_PER_SECOND,
} from "../../runner/host/stderr_budget.ts";

const HOST = fileURLToPath(new URL("./_r102_host.ts", import.meta.url));

// A sweep in the host's own process, and one through the shell (Deno reads /proc only with
// --allow-all).
const SWEEPERS = {
  here: ["--allow-all"],
  shell: ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
};

/** Runs a later host's first probe (its sweep), under `prefix` (a namespace of its own, or none). */
async function sweep(flags: string[], prefix: string[] = []): Promise<void> {
  const [program, ...args] = [...prefix, Deno.execPath(), "run", ...flags, HOST, "sweep"];
  const child = new Deno.Command(program, { args, stdin: "null", stdout: "piped" }).spawn();
  const out = await within(child.output(), 30_000, "the sweeping host");
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "swept");
}

/** The pids cgroups' base where this host (root) has them; undefined where it has none. */
async function pidsBase(): Promise<string | undefined> {
  if (Deno.uid() !== 0 || !(await Deno.stat("/usr/bin/unshare").catch(() => undefined))) return;
  return (await findControllers("/bin/sh"))?.pids;
}

/**
 * A cgroup `name` under `base` holding `pid`, its forks capped at 64; on disposal what `marker`
 * marks is SIGKILLed (the test's own processes, by pid) and the cgroup removed once emptied.
 */
function cgroupHolding(base: string, name: string, pid: number, marker: string) {
  const dir = join(base, name);
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(join(dir, "pids.max"), "64");
  Deno.writeTextFileSync(join(dir, "cgroup.procs"), String(pid));
  return {
    dir,
    [Symbol.asyncDispose]: () => {
      for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL");
      // Gone already where a sweep emptied and removed it.
      const removed = () =>
        Deno.remove(dir).then(() => true, (error) => error instanceof Deno.errors.NotFound);
      return until(removed, 5000, "its removal");
    },
  };
}

for (const [how, flags] of Object.entries(SWEEPERS)) {
  Deno.test(`r103 [${how}]: a host's sweep in a pid namespace of its own leaves a live host's plugins' forks alone`, async () => {
    testDeadline(60_000);
    const base = await pidsBase();
    if (!base) return; // no cgroups here, nothing swept
    // A plugin of this host (alive: the test), its cgroup named as plugbox names it.
    const marker = `r103-live-${crypto.randomUUID()}`;
    const plugin = new Deno.Command("sh", { args: ["-c", "sleep 60", marker] }).spawn();
    try {
      await using cgroup = cgroupHolding(
        base,
        cgroupName(`r103-${marker.slice(-8)}`),
        plugin.pid,
        marker,
      );
      // A host in a pid namespace of its own: /proc there shows no process with this host's pid.
      await sweep(flags, ["unshare", "--pid", "--fork", "--mount-proc"]);
      const max = Deno.readTextFileSync(join(cgroup.dir, "pids.max")).trim();
      assert.equal(max, "64", "a live host's plugin may no longer fork");
      assert.deepEqual(processesWith(marker), [plugin.pid]);
    } finally {
      for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL");
      await plugin.status;
    }
  });

  Deno.test(`r103 [${how}]: a host's sweep leaves alone what a live host in another pid namespace holds`, async () => {
    testDeadline(60_000);
    const base = await pidsBase();
    if (!base) return;
    // A host inside a pid namespace of its own, its pid there one this namespace has not: the
    // namespace's next pid set past any here (pid_max is 32768 here, 4 million at most).
    const marker = `r103-inside-${crypto.randomUUID()}`;
    // It waits on its stdin, a pipe never written: its marker, in $0, is in its command line only.
    const script = `echo 32000 > /proc/sys/kernel/ns_last_pid && sh -c 'read x' "$MARKER"; :`;
    const inside = new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", "sh", "-c", script],
      env: { MARKER: marker },
      stdin: "piped",
    }).spawn();
    try {
      await until(() => processesWith(marker).length === 1, 10_000, "the host inside");
      const [outside] = processesWith(marker);
      const status = Deno.readTextFileSync(`/proc/${outside}/status`);
      const inner = /^NSpid:.*\s(\d+)$/m.exec(status)![1];
      assert.ok(!(await Deno.stat(`/proc/${inner}`).catch(() => undefined)), "pid in use here");
      const ns = /pid:\[(\d+)\]/.exec(Deno.readLinkSync(`/proc/${outside}/ns/pid`))![1];
      // Its cgroup, named as plugbox names it there (pid, namespace), holds it.
      const name = `plugbox-${inner}-ns${ns}-r103-${marker.slice(-8)}`;
      await using _cgroup = cgroupHolding(base, name, outside, marker);
      await sweep(flags);
      assert.deepEqual(processesWith(marker), [outside], "a live host's plugin was killed");
    } finally {
      for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL");
      await inside.status;
    }
  });
  // A host's pid outlives the host: the kernel gives it to a later process, and a sweep that
  // judged a host alive by its pid alone spared its orphans for as long as that process ran. The
  // process holding it may have a newline in its name (the shell read the first line of its stat:
  // review 112), or live in a time namespace of its own (the sweep compared its own with that
  // process's, but a start is shown as the reader's namespace sees it: review 112).
  Deno.test(`sweep [${how}]: a cgroup whose host's pid a later process holds is swept, its host's own is not`, async () => {
    testDeadline(60_000);
    const base = await pidsBase();
    if (!base) return;
    const marker = `pid-reuse-${crypto.randomUUID()}`;
    const spawn = (role: string, script = "read x", prefix: string[] = []) =>
      new Deno.Command(prefix[0] ?? "sh", {
        args: [
          ...prefix.slice(1),
          ...(prefix.length ? ["sh"] : []),
          "-c",
          script,
          `${marker}-${role}`,
        ],
        stdin: "piped",
      }).spawn();
    const holders = [
      spawn("holder"),
      spawn("named", "printf 'a\\n) 1 2' > /proc/self/comm; read x"),
      spawn("timed", "read x", ["unshare", "--time", "--boottime", "100000"]),
    ];
    // Each holder's pid names two cgroups: one of a host that began before it, one of its own.
    const orphans = holders.map((_, i) => spawn(`orphan-${i}`));
    const spared = holders.map((_, i) => spawn(`spared-${i}`));
    const children = [...holders, ...orphans, ...spared];
    const cgroups = new AsyncDisposableStack();
    try {
      await until(() => processesWith(marker).length === 9, 10_000, "the test's processes");
      const ns = /pid:\[(\d+)\]/.exec(Deno.readLinkSync("/proc/self/ns/pid"))![1];
      const time = /time:\[(\d+)\]/.exec(Deno.readLinkSync("/proc/self/ns/time"))![1];
      holders.forEach((holder, i) => {
        // Its start as this process sees it, its name's newline and all.
        const stat = Deno.readTextFileSync(`/proc/${holder.pid}/stat`);
        const start = Number(stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[19]);
        const name = (began: number, id: string) =>
          `plugbox-${holder.pid}-ns${ns}-t${began}.${time}-${id}${i}-${marker.slice(-8)}`;
        cgroups.use(cgroupHolding(base, name(start - 1, "r"), orphans[i].pid, marker));
        cgroups.use(cgroupHolding(base, name(start, "o"), spared[i].pid, marker));
      });
      // A sweep in a time namespace of its own sees every start shifted (here by 10^5 s): it
      // cannot tell, and judges by the pid alone.
      await sweep(flags, ["unshare", "--time", "--boottime", "100000"]);
      assert.deepEqual(processesWith(marker).length, 9, "a sweep in another time namespace killed");
      await sweep(flags);
      const left = processesWith(marker);
      orphans.forEach((orphan, i) => {
        assert.ok(!left.includes(orphan.pid), `the orphan of the host pid ${i} named before lives`);
      });
      for (const child of [...holders, ...spared]) {
        assert.ok(left.includes(child.pid), "a live host's plugin was killed");
      }
    } finally {
      for (const pid of processesWith(marker)) Deno.kill(pid, "SIGKILL");
      await Promise.all(children.map((child) => child.status));
      await cgroups.disposeAsync();
    }
  });
}

// Review 101's fair share of the host's stderr budget counted the plugins whose lines came this
// second as they came: plugins that each began once the one before had spent its share were
// handed 100, 100, 67, 50… ms (the budget over the count so far; 100 ms each at most), and 16 of
// them held 582 ms of every second of the host's thread, 32 of them 725, past twice the budget
// the module promises. A plugin learns the second's start from its own pipe (its writes block
// while its lines are dropped, until the next second). The share counts the second before's too.
Deno.test("r103: plugins that come one after another in each second share twice the host's stderr budget at most", () => {
  const realNow = Date.now;
  let now = realNow() + 60_000; // a second of this test's own
  Date.now = () => now;
  try {
    const plugins = Array.from({ length: 16 }, () => joinHostBudget());
    const honest = joinHostBudget(); // one line a second, after the floods have taken theirs
    const totals: number[] = [];
    const honestLines: boolean[] = [];
    for (let second = 0; second < 3; second++) {
      now += 1000;
      let total = 0;
      for (const plugin of plugins) {
        // Lines of a millisecond each, up to a plugin's own 100 ms, while the host allows them.
        for (let own = 0; own < 100 && hostAllows(plugin); own++, total++) chargeHost(plugin, 1);
      }
      totals.push(total);
      honestLines.push(hostAllows(honest));
      if (honestLines.at(-1)) chargeHost(honest, 1);
    }
    // Its second second on, each plugin's lines came the second before: counted from the start.
    const most = 2 * STDERR_HOST_MS_PER_SECOND + plugins.length; // a line's overshoot each
    assert.ok(totals[2] <= most, `the host spent ${totals} ms a second on stderr lines`);
    // So the floods' shares are small from the start of the second, and leave the honest plugin
    // its own; counted only as they came, they took the budget twice over before it came.
    assert.deepEqual(honestLines.slice(1), [true, true], `honest lines: ${honestLines}`);
  } finally {
    Date.now = realNow;
  }
});
