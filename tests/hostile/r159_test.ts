// Review 159, attack on the cache's size: each new content of a plugin folder left a read-only
// snapshot of up to its maxBytes (64 MiB by default) in `<cache>/snapshots`, and nothing removed
// one. A folder an outsider changes between restarts, a plugin that writes into a folder started
// again, or a host that restarts a crashing plugin grew the cache by up to 64 MiB a start (measured:
// 60,000,869 bytes and a 162-byte verdict a start of a 60 MB folder, none ever removed). Now a
// start that writes a new snapshot keeps them within `snapshotCacheBytes` (1 GiB by default), and
// `pruneCache` removes them on the host's say; neither removes one a plugin of any host process
// uses (a lease each start holds, snapshot_use.ts).
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freshCache, testDeadline, until } from "../_helpers.ts";
import { type Plugin, previewStart, pruneCache, startPlugin } from "../../mod.ts";
import { tryClaim } from "../../runner/sandbox/claim_file.ts";
import { gatePath } from "../../runner/sandbox/snapshot_use.ts";
import { pruneSnapshots } from "../../runner/sandbox/snapshot_prune.ts";
import { pluginFolder } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const HOST = fileURLToPath(new URL("./_r159_host.ts", import.meta.url));
const MiB = 1024 * 1024;

/** A plugin serving Probe whose `attempt` says `tag`: each tag is another content. */
function source(tag: string): string {
  return `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
const Probe = defineContract({
  name: "probe",
  version: 1,
  methods: { attempt: z.function({ input: [z.string().optional()], output: z.string() }) },
});
await serve(implement(Probe, { attempt: () => ${JSON.stringify(tag)} }));
`;
}

/** The snapshot folders in `<cache>/snapshots`, by name. */
function snapshotsIn(cache: string): string[] {
  try {
    return [...Deno.readDirSync(join(cache, "snapshots"))]
      .filter((entry) => /^[0-9a-f]{32}$/.test(entry.name)).map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}

/** A second host process: started, it prints its start's outcome; each line sent calls again. */
function secondHost(entry: string, cache: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HOST, entry, cache, "deno"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let buffered = "";
  const next = async (): Promise<Record<string, unknown>> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the second host ended: ${buffered}`);
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return JSON.parse(line);
  };
  return {
    next,
    async call() {
      await writer.write(new TextEncoder().encode("call\n"));
      return await next();
    },
    async end() {
      await writer.close().catch(() => {});
      await lines.cancel().catch(() => {});
      return await child.status;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // ended
      }
    },
  };
}

Deno.test("r159: starts of a folder changed each time keep the cache's snapshots within snapshotCacheBytes, never removing a running plugin's", async () => {
  testDeadline(120_000);
  await using cache = await freshCache();
  await using folder = await pluginFolder({ "main.ts": source("0") });
  const entry = join(folder.dir, "main.ts");
  const running: Plugin[] = [];
  let live: string[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      // A new content each start: 1 MiB of data and its own answer.
      await Deno.writeTextFile(join(folder.dir, "data.txt"), `${i}`.padEnd(MiB, "x"));
      await Deno.writeTextFile(entry, source(`start ${i}`));
      const plugin = await startPlugin(entry, {
        contracts: [Probe],
        isolation: "deno",
        cacheDir: cache.path,
        snapshotCacheBytes: 1.5 * MiB, // one snapshot and a half: both running ones stay
      });
      running.push(plugin);
      assert.equal(await plugin.api(Probe).attempt(), `start ${i}`);
      live = running.map((p) => basename(p.plan.snapshot.dir)).sort();
      // The previous start's plugin still runs: its snapshot stays, every older one went.
      assert.deepEqual(snapshotsIn(cache.path), live, `after start ${i}`);
      if (running.length > 1) {
        const previous = running.shift()!;
        assert.equal(await previous.api(Probe).attempt(), `start ${i - 1}`);
        await previous.close();
      }
    }
  } finally {
    for (const plugin of running) await plugin.close();
  }
  // Ended, the last two stay: only a start that writes a snapshot removes others.
  assert.deepEqual(snapshotsIn(cache.path), live);
  // Each removed snapshot's verdicts went with it.
  const verdicts = [...Deno.readDirSync(join(cache.path, "verified"))].map((e) => e.name);
  assert.deepEqual(verdicts.map((name) => name.slice(0, 32)).sort(), snapshotsIn(cache.path));
});

Deno.test("r159: pruneCache in one host process leaves the snapshot a plugin of another host process runs from, and removes it once that plugin ended", async () => {
  testDeadline(120_000);
  await using cache = await freshCache();
  await using used = await pluginFolder({ "main.ts": source("used") });
  await using unused = await pluginFolder({ "main.ts": source("unused") });
  const host = secondHost(join(used.dir, "main.ts"), cache.path);
  try {
    const started = await host.next();
    assert.equal(started.ok, true, String(started.error));
    const snapshot = String(started.snapshot);
    // Another content, started and ended here: no one's now.
    const plan = await previewStart(join(unused.dir, "main.ts"), {
      cacheDir: cache.path,
      isolation: "deno",
    });
    assert.equal(snapshotsIn(cache.path).length, 2);
    const pruned = await pruneCache({ cacheDir: cache.path, maxBytes: 0 });
    assert.deepEqual(
      { removed: pruned.removed, inUse: pruned.inUse, kept: pruned.kept },
      { removed: 1, inUse: 1, kept: 1 },
    );
    assert.deepEqual(snapshotsIn(cache.path), [basename(snapshot)]);
    assert.ok(!snapshotsIn(cache.path).includes(basename(plan.snapshot.dir)));
    assert.ok(Deno.statSync(join(snapshot, "main.ts")).isFile, "the running plugin's entry");
    assert.deepEqual(await host.call(), { said: "used" });
    assert.equal((await host.end()).code, 0);
    // Its plugin ended with its host: no lease holds it now.
    const after = await pruneCache({ cacheDir: cache.path, maxBytes: 0 });
    assert.equal(after.removed, 1);
    assert.deepEqual(snapshotsIn(cache.path), []);
  } finally {
    host.kill();
  }
});

Deno.test("r159: a start in another host process that finds a removal under way waits for it, then writes the snapshot anew", async () => {
  testDeadline(120_000);
  await using cache = await freshCache();
  await using folder = await pluginFolder({ "main.ts": source("gated") });
  const entry = join(folder.dir, "main.ts");
  const plan = await previewStart(entry, { cacheDir: cache.path, isolation: "deno" });
  const name = basename(plan.snapshot.dir);
  const snapshots = join(cache.path, "snapshots");
  // A removal of it under way in this process: its gate held, as pruneCache holds it.
  const gate = tryClaim(gatePath(snapshots, name), (detail) => new Error(detail))!;
  assert.ok(gate, "the gate");
  const host = secondHost(entry, cache.path);
  try {
    // The start holds its lease, linked before it looks at the gate.
    const leased = () =>
      [...Deno.readDirSync(join(snapshots, ".use"))].some((e) =>
        e.name.startsWith(`${name}.`) && !e.name.endsWith(".prune") && !e.name.includes(".prune.")
      );
    await until(leased, 60_000, "the second host's lease");
    // What the removal does next (it found no lease before this one): the snapshot moved out.
    Deno.renameSync(plan.snapshot.dir, join(snapshots, ".prune-r159"));
    gate.release();
    const started = await host.next();
    assert.equal(started.ok, true, String(started.error));
    assert.equal(started.said, "gated");
    assert.ok(Deno.statSync(join(plan.snapshot.dir, "main.ts")).isFile, "written anew");
    assert.deepEqual(await host.call(), { said: "gated" });
  } finally {
    await host.end();
    host.kill();
  }
});

Deno.test("r159: a start in another host process between a removal's look for leases and its gate keeps its snapshot", async () => {
  testDeadline(120_000);
  await using cache = await freshCache();
  await using folder = await pluginFolder({ "main.ts": source("between") });
  const entry = join(folder.dir, "main.ts");
  const plan = await previewStart(entry, { cacheDir: cache.path, isolation: "deno" });
  const host = secondHost(entry, cache.path);
  try {
    let started: Record<string, unknown> = {};
    const result = await pruneSnapshots(join(cache.path, "snapshots"), {
      maxBytes: 0,
      // The removal listed no lease; the start comes now, finds no gate, and runs. Its use's
      // stamp undone (a stamp is best effort: another user's folder keeps its time), only its
      // lease tells the removal.
      beforeGate: async () => {
        const before = Deno.statSync(plan.snapshot.dir).mtime!;
        started = await host.next();
        Deno.utimeSync(plan.snapshot.dir, before, before);
      },
    });
    assert.equal(started.ok, true, String(started.error));
    assert.deepEqual({ removed: result.removed, inUse: result.inUse }, { removed: 0, inUse: 1 });
    assert.ok(Deno.statSync(join(plan.snapshot.dir, "main.ts")).isFile, "the running plugin's");
    assert.deepEqual(await host.call(), { said: "between" });
  } finally {
    await host.end();
    host.kill();
  }
});

Deno.test("r159: pruneCache removes snapshots unused for longer than asked, what killed hosts left, and verdicts no start reads", async () => {
  testDeadline(60_000);
  await using cache = await freshCache();
  await using old = await pluginFolder({ "main.ts": source("old") });
  await using fresh = await pluginFolder({ "main.ts": source("fresh") });
  const options = { cacheDir: cache.path, isolation: "deno" as const };
  const stale = await previewStart(join(old.dir, "main.ts"), options);
  const kept = await previewStart(join(fresh.dir, "main.ts"), options);
  const snapshots = join(cache.path, "snapshots");
  const weekAgo = new Date(Date.now() - 8 * 24 * 3600_000);
  Deno.utimeSync(stale.snapshot.dir, weekAgo, weekAgo);
  // Made a week ago too, but started again now: a use stamps it.
  Deno.utimeSync(kept.snapshot.dir, weekAgo, weekAgo);
  await previewStart(join(fresh.dir, "main.ts"), options);
  // A removal SIGKILLed midway (its snapshot moved out, read-only), and an earlier plugbox's verdict.
  Deno.mkdirSync(join(snapshots, ".prune-killed", "sub"), { recursive: true });
  Deno.writeTextFileSync(join(snapshots, ".prune-killed", "sub", "f"), "x");
  Deno.chmodSync(join(snapshots, ".prune-killed", "sub"), 0o555);
  Deno.writeTextFileSync(join(cache.path, "verified", "ab".repeat(32)), "{}");
  const result = await pruneCache({ cacheDir: cache.path, unusedForMs: 7 * 24 * 3600_000 });
  assert.equal(result.removed, 1);
  assert.deepEqual(snapshotsIn(cache.path), [basename(kept.snapshot.dir)]);
  const left = [...Deno.readDirSync(snapshots)].map((e) => e.name).sort();
  assert.deepEqual(left, [".sizes", ".total", ".use", basename(kept.snapshot.dir)]);
  const verdicts = [...Deno.readDirSync(join(cache.path, "verified"))].map((e) => e.name);
  assert.deepEqual(verdicts.map((v) => v.slice(0, 32)).sort(), [basename(kept.snapshot.dir)]);
});

Deno.test("r159: bad bounds are refused by name", async () => {
  await assert.rejects(
    pruneCache({ maxBytes: -1 }),
    (error: Error) =>
      error instanceof TypeError && /"maxBytes" must be a whole number/.test(error.message),
  );
  await assert.rejects(
    previewStart("./plugins/hello/main.ts", { snapshotCacheBytes: 1.5 }),
    (error: Error) =>
      error instanceof TypeError && /"snapshotCacheBytes" must be an integer/.test(error.message),
  );
});

Deno.test("r159: plug prune removes the snapshots no plugin uses, and says what it removed", async () => {
  testDeadline(60_000);
  await using cache = await freshCache();
  await using folder = await pluginFolder({ "main.ts": source("cli") });
  await previewStart(join(folder.dir, "main.ts"), { cacheDir: cache.path, isolation: "deno" });
  assert.equal(snapshotsIn(cache.path).length, 1);
  const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "prune", "--max-mb=0", "--json"],
    env: { PLUGBOX_CACHE_DIR: cache.path },
    stdin: "null",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const said = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(said.removed, 1);
  assert.deepEqual(snapshotsIn(cache.path), []);
});

Deno.test("r159: pruneCache removes the Deno dir an ended plugin with a run grant left, which only its own next start removed", async () => {
  testDeadline(60_000);
  await using cache = await freshCache();
  await using folder = await pluginFolder({ "main.ts": source("run") });
  const plugin = await startPlugin(join(folder.dir, "main.ts"), {
    contracts: [Probe],
    isolation: "deno",
    cacheDir: cache.path,
    permissions: { run: ["/bin/true"] },
    unsafe: { run: true },
    manifest: "ignore",
  });
  assert.equal(await plugin.api(Probe).attempt(), "run");
  await plugin.close();
  const trash = () =>
    [...Deno.readDirSync(join(cache.path, "plugins"))].flatMap((p) =>
      [...Deno.readDirSync(join(cache.path, "plugins", p.name))]
        .filter((e) => e.name.startsWith(".deno_dir.emptied-"))
    );
  assert.equal(trash().length, 1, "its Deno dir, moved to the trash at its end");
  await pruneCache({ cacheDir: cache.path });
  assert.deepEqual(trash(), []);
});
