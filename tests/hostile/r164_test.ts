// Review 164: the tasks every plugin on the machine shares. Review 114 held every plugin's tasks
// together to half of the machine's (the limit of the folder their pids cgroups are made in), but
// each plugin's own cap was 8,192: two plugins that made threads until refused took the whole
// budget of 16,384 here, and every other plugin's start then failed ("Deno could not start: unable
// to create worker threads"), in any host process on the machine. Each plugin's cap is now a
// reservation from that budget (prologue.ts): the caps of the plugins running stay within it, a
// plugin asking none gets 1/256 of it (at least 32), and a start whose cap no longer fits is
// refused, saying why and what to do. Each test runs its hosts in a pids cgroup of its own, whose
// limit makes a small budget (half of it), apart from every other host's on the machine.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { prologue, TASK_CEILING, TASK_FLOOR, TASK_SHARES } from "../../runner/sandbox/prologue.ts";
import { within } from "../_helpers.ts";
import { hostInCgroup, kernelHost, limitedPidsCgroup, tempDir } from "./_hostile.ts";

const HOST = fileURLToPath(new URL("./_r164_tasks_host.ts", import.meta.url));

/** A host of review 164's in cgroup `dir`: `_r164_tasks_host.ts` with `args`. */
function host(dir: string, args: string[]) {
  return hostInCgroup(dir, HOST, args, { stdin: "piped" });
}

interface Said {
  hoarders: { said: string; cap: number; held: number }[];
  fresh?: { deno: string; os: string };
  spawned: string;
  worker: string;
}

/** The first line a host prints, as JSON; its stderr too where it ends first. */
async function firstLine(child: Deno.ChildProcess): Promise<Said> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const line = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
    }
    return text.slice(0, text.indexOf("\n"));
  };
  const value = await within(line(), 120_000, "the host's line");
  void (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })();
  if (value === undefined) assert.fail(`the host printed nothing: ${(await ended(child)).stderr}`);
  return JSON.parse(value);
}

const ends = new WeakMap<Deno.ChildProcess, Promise<{ code: number; stderr: string }>>();

/** How a host ended, and its stderr. */
function ended(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  let end = ends.get(child);
  if (!end) {
    end = within(
      Promise.all([new Response(child.stderr).text(), child.status]),
      60_000,
      "the host's end",
    ).then(([stderr, { code }]) => ({ code, stderr }));
    ends.set(child, end);
  }
  return end;
}

/** A plugin's share of a budget of `budget` tasks (prologue.ts). */
const share = (budget: number) =>
  Math.min(TASK_CEILING, Math.max(TASK_FLOOR, Math.floor(budget / TASK_SHARES)));

/**
 * Each hoarder's cap is `cap`, and it was held there: a Python one holds up to it (its threads
 * stopped by the refusal), a Deno one was refused a Worker's thread (which may end it).
 */
function heldAt(hoarders: Said["hoarders"], cap: number) {
  for (const { said, cap: set, held } of hoarders) {
    assert.equal(set, cap, said);
    assert.ok(held <= cap, `${said}: ${held} tasks held, cap ${cap}`);
    const threads = /^tasks: (\d+)$/.exec(said)?.[1];
    if (threads) assert.ok(held > cap / 2 && Number(threads) < cap, `${said}: cap ${cap}`);
    else {
      assert.match(
        said,
        /^workers: \d+, then Resource temporarily unavailable|unable to create worker threads/,
      );
    }
  }
}

Deno.test("r164 [os, deno]: hoarding plugins in two host processes cannot stop a fresh plugin from starting and answering, nor the host from making threads", async () => {
  // A budget of 512: each plugin's share is 32, so 16 fit; 5 hoarders hold at most 160.
  await using group = await limitedPidsCgroup("r164", 1024);
  const budget = 512;
  const first = host(group.path, ["2", "1", "share", "", "hold"]);
  try {
    const held = await firstLine(first);
    const second = host(group.path, ["1", "1", "share", "fresh", ""]);
    second.stdin.close();
    const said = await firstLine(second);
    const { code, stderr } = await ended(second);
    assert.equal(code, 0, stderr);
    const all = JSON.stringify([held, said]);
    assert.deepEqual(said.fresh, { deno: "answered hello", os: "answered hello" }, all);
    assert.equal(said.spawned, "yes");
    assert.equal(said.worker, "yes");
    heldAt([...held.hoarders, ...said.hoarders], share(budget));
  } finally {
    await first.stdin.close().catch(() => {});
    const { code, stderr } = await ended(first);
    assert.equal(code, 0, stderr);
  }
});

Deno.test("r164 [os, deno]: a start whose cap no longer fits the budget is refused, naming the cause and what to do; the host still makes threads", async () => {
  // Two hoarders asking 256 each reserve the whole budget of 512.
  await using group = await limitedPidsCgroup("r164", 1024);
  const child = host(group.path, ["2", "0", "256", "fresh", ""]);
  child.stdin.close();
  const said = await firstLine(child);
  const { code, stderr } = await ended(child);
  assert.equal(code, 0, stderr);
  for (const isolation of ["deno", "os"] as const) {
    assert.match(
      said.fresh![isolation],
      /the machine's plugins may hold 512 processes and threads together \(.*pids\.max, half of the machine's tasks or of the host's cgroup's limit\), the 2 other plugins running reserve 512 of them, and this one's cap is 32: stop a plugin, or give this one a lower cpu\.maxTasks/,
    );
  }
  assert.equal(said.spawned, "yes");
  assert.equal(said.worker, "yes");
  heldAt(said.hoarders, 256);
});

/**
 * The prologue's reservation in a folder of plain files standing in for the pids cgroups: the
 * folder's limit (`undefined`: no file), each sibling's `[pids.current, pids.max]`, and this
 * plugin's own cgroup, joined (one task), asking `pidsMax` (or its share).
 */
async function reserve(
  limit: string | undefined,
  siblings: Record<string, [string, string]>,
  pidsMax?: number,
): Promise<{ code: number; stderr: string; cap: string }> {
  await using base = await tempDir();
  if (limit !== undefined) Deno.writeTextFileSync(join(base.path, "pids.max"), `${limit}\n`);
  const made = (name: string, current: string, max: string) => {
    Deno.mkdirSync(join(base.path, name));
    for (const [file, text] of [["tasks", ""], ["pids.current", current], ["pids.max", max]]) {
      Deno.writeTextFileSync(join(base.path, name, file), `${text}\n`); // as cgroupfs writes it
    }
  };
  for (const [name, [current, max]] of Object.entries(siblings)) made(name, current, max);
  made("plugbox-me", "1", "max");
  const argv = prologue("/bin/sh", {
    cgroup: {
      dir: "",
      version: 1,
      quotaUs: 0,
      periodUs: 0,
      pidsDir: join(base.path, "plugbox-me"),
      pidsMax,
    },
  });
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "/bin/true"],
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
    cap: Deno.readTextFileSync(join(base.path, "plugbox-me", "pids.max")).trim(),
  };
}

Deno.test("r164: a plugin's share of the budget is 1/256 of it, from 32 to 64", async () => {
  // 64 at most: at 8,192 (1/256 of half of systemd's pid_max) 256 plugins filled any machine.
  for (const [limit, cap] of [["100", "32"], ["12800", "50"], ["3000000", "64"]]) {
    const { code, stderr, cap: set } = await reserve(limit, {});
    assert.equal(code, 0, stderr);
    assert.equal(set, cap, `the share of ${limit}`);
  }
});

Deno.test("r164: a start passes while every running plugin's cap and its own fit the budget, and is refused past it", async () => {
  // An empty sibling holds nothing (a dead host's, a trial), and one with no cap yet is a start
  // that sums after it writes its own.
  const siblings: Record<string, [string, string]> = {
    "plugbox-a": ["5", "60"],
    "plugbox-empty": ["0", "60"],
    "plugbox-starting": ["1", "max"],
  };
  const fits = await reserve("100", siblings, 40);
  assert.equal(fits.code, 0, fits.stderr);
  assert.equal(fits.cap, "40");
  const over = await reserve("100", siblings, 41);
  assert.equal(over.code, 125);
  assert.match(
    over.stderr,
    /^plugbox refused task-budget budget=100 reserved=60 cap=41 others=1: the machine's plugins may hold 100 processes and threads together \(\/.*\/pids\.max, .*\), the 1 other plugins running reserve 60 of them, and this one's cap is 41: stop a plugin, or give this one a lower cpu\.maxTasks\n$/,
  );
});

Deno.test("r164: where the folder of pids cgroups has no limit to share, the start is refused", async () => {
  for (const [limit, said] of [["max", "max"], [undefined, "unreadable"]] as const) {
    const { code, stderr } = await reserve(limit, {});
    assert.equal(code, 125);
    assert.match(stderr, new RegExp(`has none \\(pids\\.max: ${said}\\); a host's probe`));
  }
});

// Kernel objects counted per user, not per plugin (review 164's class). A POSIX message queue's
// bytes count against its user's RLIMIT_MSGQUEUE (819,200 bytes), which every process of that user
// shares, root's too, whatever the IPC namespace: a Python plugin granted nothing took all of it in
// 9 queues under the OS layer, and its host's own mq_open failed ("Too many open files"; the same
// as uid 65534). The OS layer's filter now refuses mq_open, as Landlock's refuses all IPC: the
// sandbox's own namespace holds no queue the plugin did not make.
Deno.test("r164 [os]: a plugin cannot take its user's POSIX message queue bytes from its host", async () => {
  const { said, host } = await kernelHost("mqueue:100");
  assert.equal(host.mqueue, "yes", `the host could make a queue of its own: ${said}`);
  assert.deepEqual(said, ["mqueue: 0, then EPERM"]);
});
