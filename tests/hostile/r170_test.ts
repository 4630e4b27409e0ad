// Review 170: the lifecycle's races crossed with the kernel objects each plugin now holds (its CPU,
// memory, pids and cpuacct cgroups, the plugin's own memory cgroup beside its egress relay when it
// is granted net, its share of the tasks every plugin reserves from) and its hot standby. Random
// interleavings of start, stop, restart, a crash (the plugin ends itself, or the host's side kills
// it), an abort of its signal, the host's killNow() and its dispose, under the OS and Landlock
// layers, granted net (the relay runs) and with a standby: after each, every promise has settled,
// no process of it is left, no cgroup of it is left, and a start of it succeeds. The same in a
// host Deno lets read neither /proc nor cgroupfs (its cgroups made, closed and swept by its shell)
// whose tasks budget holds exactly the plugin and its standby: no start is refused for a
// reservation left or held too long. Hosts SIGKILLed at random moments of a start: the next host's
// sweep leaves none of their cgroups, and its start of the same cap succeeds. And the one leak
// found: the egress socket folders a SIGKILLed host left (no host removed them; now the next
// host's first relay does). A failing run prints its seed: PLUGBOX_R170_SEED=<seed> replays it;
// PLUGBOX_R170_ROUNDS and PLUGBOX_R170_KILLS run more.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { previewStart } from "../../mod.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { exists, testDeadline, until, within } from "../_helpers.ts";
import { hostInCgroup, limitedPidsCgroup, processesWith, rng } from "./_hostile.ts";
import { cgroupsOf, type Counts, interleavings, markedPlugin, pause } from "./_r170_fuzz.ts";

const HOST = fileURLToPath(new URL("./_r170_host.ts", import.meta.url));
const KILLS = Number(Deno.env.get("PLUGBOX_R170_KILLS") ?? 4);
/** A host Deno lets read neither /proc nor cgroupfs: plugbox uses its shell for the cgroups. */
const NARROW = ["--allow-read", "--allow-write", "--allow-env", "--allow-run", "--allow-net"];

Deno.test(`r170 [os, net, standby]: random interleavings leave no process, no cgroup, no unsettled promise, and a start succeeds after`, async () => {
  testDeadline(120_000);
  await interleavings({ isolation: "os", net: true, hotStandby: true }, 2);
});

Deno.test(`r170 [landlock, standby]: random interleavings leave no process, no cgroup, no unsettled promise, and a start succeeds after`, async () => {
  testDeadline(120_000);
  await interleavings({ isolation: "landlock", net: false, hotStandby: true }, 2);
});

/** Review 170's host in pids cgroup `dir`, with `args`. */
function host(
  dir: string,
  args: string[],
  flags = ["--allow-all"],
  stdin: "null" | "piped" = "null",
  env: Record<string, string> = {},
) {
  return hostInCgroup(dir, HOST, args, { flags, stdin, env });
}

/** Every cgroup named for host `pid` in `all` (and what each holds), and in the pids folder `pids`. */
function cgroupsOfHost(all: string[], pid: number): string[] {
  const found: string[] = [];
  for (const base of all) {
    try {
      for (const entry of Deno.readDirSync(base)) {
        if (entry.name.startsWith(`plugbox-${pid}-`)) found.push(join(base, entry.name));
      }
    } catch {
      // no such folder (yet)
    }
  }
  return found;
}

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r170 [${isolation}, net]: a host SIGKILLed mid-start leaves no cgroup past the next host's sweep, and no reservation that refuses that host's start`, async () => {
    testDeadline(150_000);
    const seed = Number(Deno.env.get("PLUGBOX_R170_SEED") ?? Date.now() % 1_000_000);
    const random = rng(seed);
    // A budget of 200 tasks: a plugin of 150 fits once, never twice.
    await using cgroup = await limitedPidsCgroup("r170", 400);
    const { folder, main } = await markedPlugin();
    await using _folder = folder;
    const marker = (await previewStart(main, { isolation })).snapshot.dir;
    // The child hosts' folders: this process's, but for pids, where theirs is in the test's cgroup.
    const found = await findControllers("/bin/sh");
    assert.ok(found?.memory && found.pids, "a root host has memory and pids controllers");
    const all = [found.cpu.base, found.memory, join(cgroup.path, "plugbox"), found.cpuacct]
      .filter((base): base is string => base !== undefined);
    const delays: number[] = [];
    let swept = 0;
    const orphans: string[] = [];
    try {
      for (let round = 0; round < KILLS; round++) {
        // Each host in its own process where Deno lets it, else (narrow) through its shell.
        const [killed, next] = [round % 2 === 1, round % 4 >= 2].map((narrow) =>
          narrow ? NARROW : ["--allow-all"]
        );
        const first = host(cgroup.path, ["start", main, isolation, "150"], killed);
        const reader = first.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        try {
          // The last host is killed once its plugin runs (its cgroups are all there); the others
          // at a random moment of their start.
          const last = round === KILLS - 1;
          while (!text.includes(last ? "up\n" : "go\n")) {
            const { value, done } = await within(reader.read(), 30_000, "the first host's line");
            if (done) break;
            text += value;
          }
          const delay = last ? 0 : Math.floor(random() * 1500);
          delays.push(delay);
          await pause(delay);
        } finally {
          first.kill("SIGKILL");
          await first.status;
          await reader.cancel();
          await first.stderr.cancel();
        }
        // What the dead host left for the sweep: its cgroups, and processes still alive in them.
        const left = cgroupsOfHost(all, first.pid);
        if (left.length > 0) swept++;
        const alive = processesWith(marker).length;
        if (alive > 0) orphans.push(`${delays.at(-1)}ms:${alive}`);
        const second = await within(
          host(cgroup.path, ["fresh", main, isolation, "150"], next).output(),
          60_000,
          "the next host",
        );
        const said = new TextDecoder().decode(second.stdout).trim();
        const at = `round ${round}, killed ${delays.at(-1)} ms after its go`;
        assert.equal(said, "answered 7", `${at}: ${new TextDecoder().decode(second.stderr)}`);
        assert.deepEqual(cgroupsOfHost(all, first.pid), [], `${at}: the dead host's cgroups`);
        await until(() => processesWith(marker).length === 0, 5_000, `${at}: no process left`);
      }
    } catch (error) {
      throw new Error(`r170 failed (PLUGBOX_R170_SEED=${seed}, delays ${delays}): ${error}`, {
        cause: error,
      });
    }
    assert.ok(swept > 0, "a killed host left cgroups for the sweep");
    console.log(
      `${KILLS} hosts killed, ${swept} left cgroups for the sweep, processes alive after: ${orphans}, seed ${seed}`,
    );
  });
}

/** A host's lines, one at a time. */
function linesOf(child: Deno.ChildProcess) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  return {
    async next(): Promise<string | undefined> {
      while (!pending.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        pending += value;
      }
      const line = pending.slice(0, pending.indexOf("\n"));
      pending = pending.slice(line.length + 1);
      return line;
    },
    cancel: () => reader.cancel(),
  };
}

// A host Deno lets read neither /proc nor cgroupfs (no --allow-all) makes, closes and sweeps the
// cgroups through its shell (the prologue's mkdir, the close's script, the probe's sweep), not in
// its own process: the same interleavings there, checked from here after each. Its tasks budget
// (half of its pids cgroup's limit) holds exactly two plugins of its cap: the plugin and its
// standby; a reservation left, or held past its process, refuses the next start.
for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r170 [${isolation}${isolation === "os" ? ", net" : ""}, standby, narrow host, a budget of two]: random interleavings leave no process, no cgroup, no reservation`, async () => {
    testDeadline(150_000);
    const seed = Number(Deno.env.get("PLUGBOX_R170_SEED") ?? Date.now() % 1_000_000);
    const rounds = Number(Deno.env.get("PLUGBOX_R170_ROUNDS") ?? 3);
    await using cgroup = await limitedPidsCgroup("r170", 600);
    const found = await findControllers("/bin/sh");
    assert.ok(found?.memory && found.pids, "a root host has memory and pids controllers");
    const all = [found.cpu.base, found.memory, join(cgroup.path, "plugbox"), found.cpuacct]
      .filter((base): base is string => base !== undefined);
    const child = host(
      cgroup.path,
      ["narrow-fuzz", String(seed), String(rounds), isolation, "150"],
      NARROW,
      "piped",
    );
    const lines = linesOf(child);
    const writer = child.stdin.getWriter();
    const errors = new Response(child.stderr).text();
    let counts: Counts | undefined;
    let checked = 0;
    try {
      for (
        let line = await within(lines.next(), 90_000, "the host's line");
        line !== undefined;
        line = await within(lines.next(), 90_000, "the host's line")
      ) {
        if (!line.startsWith("{")) continue;
        const said = JSON.parse(line);
        if (said.refused) {
          counts = said;
          continue;
        }
        const left = [
          ...processesWith(said.marker).map(String),
          ...cgroupsOf(all, said.name, child.pid),
        ];
        checked++;
        await writer.write(
          new TextEncoder().encode(
            left.length === 0 ? "ok\n" : `left ${said.said}: ${left.join(", ")}\n`,
          ),
        );
      }
    } finally {
      await writer.close().catch(() => {});
      await lines.cancel();
    }
    const { code } = await within(child.status, 30_000, "the host's end");
    assert.equal(code, 0, `PLUGBOX_R170_SEED=${seed}: ${await errors}`);
    assert.ok(counts, "the host said what its interleavings came to");
    assert.equal(checked, rounds + 1);
    assert.deepEqual(
      counts.refused,
      [],
      `refused for the tasks budget (PLUGBOX_R170_SEED=${seed})`,
    );
  });
}

// The folder of a relay's egress socket (in the cache, one per start under the OS layer granted
// net) was removed only by its proxy's close: a host SIGKILLed (or ended by Deno.exit, which
// closes nothing) left it and its socket for good, and no later host removed them (143 here
// after a day of tests, 60 of them from this file's SIGKILLed hosts). A proxy holds its folder
// locked; a host's first proxy removes every folder beside its own that no process holds.
for (const flags of [["--allow-all"], NARROW]) {
  Deno.test(`r170 [os, net${flags === NARROW ? ", narrow host" : ""}]: the egress socket folders of SIGKILLed hosts are removed by the next host's start`, async () => {
    testDeadline(120_000);
    await using cgroup = await limitedPidsCgroup("r170", 400);
    const { folder, main } = await markedPlugin();
    await using _folder = folder;
    const cache = await Deno.makeTempDir({ prefix: "r170-cache-" });
    const env = { PLUGBOX_CACHE_DIR: cache };
    const sockets = () => {
      try {
        return [...Deno.readDirSync(join(cache, "egress"))].filter((e) => e.isDirectory)
          .map((e) => e.name);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return [];
        throw error;
      }
    };
    // A folder of plugbox before this review (no lock held while its proxy listened): left alone.
    const older = join(cache, "egress", "0123456789abcdef");
    Deno.mkdirSync(older, { recursive: true });
    const running = async () => {
      const started = host(cgroup.path, ["start", main, "os", "100"], flags, "null", env);
      const lines = linesOf(started);
      let line: string | undefined;
      do line = await within(lines.next(), 60_000, "a host's plugin"); while (
        line !== undefined && line !== "up"
      );
      assert.equal(line, "up", "the host's plugin runs");
      let ended = false;
      return {
        [Symbol.asyncDispose]: async () => {
          if (ended) return;
          ended = true;
          started.kill("SIGKILL");
          await started.status;
          await lines.cancel();
          await started.stderr.cancel();
        },
      };
    };
    try {
      // Two hosts SIGKILLed: the second's start removes the first's folder, not its own.
      for (let round = 0; round < 2; round++) {
        await (await running())[Symbol.asyncDispose]();
        assert.equal(sockets().length, 2, `round ${round}: ${sockets()}`);
      }
      // A host that lives: its folder is held, and stays while it runs.
      await using live = await running();
      const held = sockets().filter((name) => name.startsWith("held-"));
      assert.equal(held.length, 1, `a living host's and nothing else: ${sockets()}`);
      const second = await within(
        host(cgroup.path, ["fresh", main, "os", "100"], flags, "null", env).output(),
        60_000,
        "the next host",
      );
      const said = new TextDecoder().decode(second.stdout).trim();
      assert.equal(said, "answered 7", new TextDecoder().decode(second.stderr));
      assert.deepEqual(sockets().sort(), ["0123456789abcdef", ...held].sort());
      assert.ok(exists(join(cache, "egress", held[0], "s")), "the living host's socket");
      await live[Symbol.asyncDispose]();
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  });
}
