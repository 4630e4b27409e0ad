// A plugin's Deno dir: the SDK's read-only seed for every start without a run, ffi or all grant
// (code_cache_test.ts), and for one with such a grant a dir of its own (review 43: what a program
// or native code of the plugin's wrote there is never loaded by another start), moved into the
// trash once it ends; the trash is removed without following a link, within a deadline.
import assert from "node:assert/strict";
import { join } from "node:path";
import { approvePlugin, PluginHost, previewStart } from "../../mod.ts";
import { launchPlugin, startPlugin } from "../../runner/host/mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { pluginDirs, releaseDenoDir, trashIfReleased } from "../../runner/sandbox/locate.ts";
import { freshCache } from "../_helpers.ts";

/** One start's `pluginDirs` in a process of its own: `<cache> <root> <name>`. */
const SWEEPER = new URL("../fixtures/sweep_without_caps.ts", import.meta.url).pathname;

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

function plan(cache: string, run = false) {
  return previewStart(HELLO, {
    name: "dirs",
    isolation: "deno",
    cacheDir: cache,
    ...(run
      ? { permissions: { run: ["/bin/true"] }, unsafe: { run: true }, manifest: "ignore" as const }
      : {}),
  });
}

const RUN = {
  permissions: { run: ["/bin/true"] },
  unsafe: { run: true },
  manifest: "ignore" as const,
};

/** The dirs of a start without a run, ffi or all grant, for a plugin `name` of no folder. */
function trustedDirs(cache: string, name: string) {
  return pluginDirs(cache, "/nonexistent/root", name, { sh: "/bin/sh" });
}

/** The plugin's own folder (its home, own Deno dirs and trash), from a plan or its dirs. */
function baseOf(dirs: { env: Record<string, string> } | { home: string }): string {
  return join("env" in dirs ? dirs.env.HOME : dirs.home, "..");
}

/** What the plugin's own folder holds, by name. */
async function inBase(base: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(base))).map((e) => e.name).sort();
}

// Review 48: a start with a run grant marked the shared dir for the next start to empty; two starts
// that overlapped lost the mark, and what the grant's programs wrote reached a start without it.
// Such a start now runs in a Deno dir of its own, made for it and moved out once it ends.
Deno.test("deno dir: a start with a run grant has its own, and nothing it writes reaches another start", async () => {
  await using cache = await freshCache();
  const first = await plan(cache.path);
  const seed = first.env.DENO_DIR;
  const base = baseOf(first);
  const plugin = await startPlugin(HELLO, {
    name: "dirs",
    isolation: "deno",
    cacheDir: cache.path,
    contracts: [Greeter],
    ...RUN,
  });
  const own = plugin.plan.env.DENO_DIR;
  assert.match(own, /\/deno_dir\.native-[0-9a-f-]{36}$/);
  assert.ok(
    plugin.plan.notes.includes(
      "deno dir: its own for this start, removed once it ends (a run, ffi or all grant lets it write there freely)",
    ),
  );
  // Launched again, and refused before it ran: the running plugin keeps its dir (review 50).
  const again = launchPlugin(plugin.plan, { contracts: [Greeter], signal: AbortSignal.abort() });
  await assert.rejects(again);
  assert.ok((await Deno.lstat(own)).isDirectory, "still the running plugin's");
  // What the granted program could leave: anything, a module Deno's caches name included.
  await Deno.writeTextFile(join(own, "payload.js"), "globalThis.poisoned = true;\n");
  // Another start meanwhile, with the grant or without: neither sees it.
  await using other = await startPlugin(HELLO, {
    name: "dirs",
    isolation: "deno",
    cacheDir: cache.path,
    contracts: [Greeter],
    ...RUN,
  });
  assert.notEqual(other.plan.env.DENO_DIR, own);
  assert.ok((await Deno.lstat(join(other.plan.env.DENO_DIR, "v8_code_cache_v2"))).isFile, "seeded");
  await assert.rejects(
    Deno.lstat(join(other.plan.env.DENO_DIR, "payload.js")),
    Deno.errors.NotFound,
  );
  const trusted = await plan(cache.path);
  assert.equal(trusted.env.DENO_DIR, seed);
  await assert.rejects(Deno.lstat(join(seed, "payload.js")), Deno.errors.NotFound);
  assert.equal(await Deno.readTextFile(join(own, "payload.js")), "globalThis.poisoned = true;\n");
  await plugin.close();
  await assert.rejects(Deno.lstat(own), Deno.errors.NotFound, "moved out once it ended");
  await other.close();
  // A preview runs nothing: its own dir, made for the check, goes at once (review 49).
  const preview = await plan(cache.path, true);
  await assert.rejects(Deno.lstat(preview.env.DENO_DIR), Deno.errors.NotFound);
  // Nor does an approval (review 49).
  await approvePlugin(HELLO, {
    name: "dirs",
    isolation: "deno",
    cacheDir: cache.path,
    ...RUN,
    lock: { path: join(cache.path, "plugbox.lock") },
  });
  // The next start removes what ended.
  await plan(cache.path);
  assert.deepEqual(await inBase(base), ["home"], "no own dir or trash left");
});

// Review 50: a start refused in the plugin's constructor (capabilities for a contract it does not
// name) kept its own Deno dir, locked, for the host's life.
Deno.test("deno dir: a start refused before its process is spawned releases its own dir", async () => {
  await using cache = await freshCache();
  const base = baseOf(await plan(cache.path));
  for (let i = 0; i < 3; i++) {
    await assert.rejects(startPlugin(
      HELLO,
      {
        name: "dirs",
        isolation: "deno",
        cacheDir: cache.path,
        contracts: [Greeter],
        capabilities: [{ contract: { name: "other", methods: {} }, implementation: {} }],
        ...RUN,
      } as unknown as Parameters<typeof startPlugin>[1],
    ));
  }
  await plan(cache.path);
  assert.deepEqual((await inBase(base)).filter((n) => n.startsWith("deno_dir.native-")), []);
});

// plugbox before this one kept a writable Deno dir per plugin, which its plugins grew (about 40
// MB/s importing data: modules) and a run grant's programs wrote freely: it is moved aside, mark
// and all, and removed; nothing runs in it again.
Deno.test("deno dir: the per-plugin dir an earlier plugbox kept is moved aside and removed", async () => {
  await using cache = await freshCache();
  const base = baseOf(await plan(cache.path));
  const legacy = join(base, "deno_dir");
  await Deno.mkdir(join(legacy, "gen"), { recursive: true });
  await Deno.writeTextFile(join(legacy, "payload.js"), "globalThis.poisoned = true;\n");
  await Deno.writeFile(join(base, "deno_dir.written-by-native-code"), new Uint8Array());
  const next = await plan(cache.path);
  assert.ok(
    next.notes.includes(
      "deno dir: the one earlier starts wrote is moved aside (now none is writable)",
    ),
    next.notes.join("\n"),
  );
  assert.notEqual(next.env.DENO_DIR, legacy);
  assert.deepEqual(await inBase(base), ["home"], "moved aside and removed, mark and all");
  const third = await plan(cache.path);
  assert.ok(!third.notes.some((n) => n.startsWith("deno dir:")), third.notes.join("\n"));
});

// Own dirs a host process made and did not release (it died): a later start removes those no
// process holds locked, and keeps one another process holds, whatever its PID namespace (review 49:
// a pid in the name was judged in the wrong namespace, and a running plugin's dir was removed).
Deno.test("deno dir: own dirs no process holds are removed, one another process holds is kept", async () => {
  await using cache = await freshCache();
  const base = baseOf(await plan(cache.path));
  const gone = join(base, `deno_dir.native-${crypto.randomUUID()}`);
  const held = join(base, `deno_dir.native-${crypto.randomUUID()}`);
  await Deno.mkdir(join(gone, "gen"), { recursive: true });
  await Deno.mkdir(held);
  const holder = new Deno.Command("unshare", {
    // In a PID namespace of its own, as a host in a container would be.
    args: [
      "--pid",
      "--fork",
      "python3",
      "-c",
      "import fcntl,os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\nfcntl.flock(fd,fcntl.LOCK_EX)\nprint('held',flush=True)\nsys.stdin.read()",
      held,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const said = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    assert.match((await said.read()).value ?? "", /^held/);
    await plan(cache.path);
    await assert.rejects(Deno.lstat(gone), Deno.errors.NotFound);
    assert.ok((await Deno.lstat(held)).isDirectory, "another process holds it");
  } finally {
    await holder.stdin.close();
    await said.cancel();
    await holder.status;
  }
  await plan(cache.path);
  await assert.rejects(Deno.lstat(held), Deno.errors.NotFound, "no one's once let go");
});

// Review 54: a sweep let go of a released dir's lock before it moved the dir, so another host's start
// could make and lock it in between and lose it to the trash under its running plugin; and a start
// whose new dir a sweep moved before the start opened it failed.
Deno.test("deno dir: hosts at once on one plugin keep their own dirs while their plugins run", async () => {
  await using cache = await freshCache();
  const runs = await Promise.all([0, 1, 2].map(() =>
    new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", new URL("../fixtures/own_dir_host.ts", import.meta.url).pathname],
        ...[cache.path, "150"],
      ],
      stdout: "piped",
    }).output()
  ));
  for (const run of runs) {
    assert.ok(run.success);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(run.stdout)), { failed: 0, moved: 0 });
  }
});

// Review 55: the test above catches a sweep that lets go before the move only now and then; here
// a start tries to take the dir at the very moment before the move.
Deno.test("deno dir: a sweep holds a released own dir locked until it is moved", async () => {
  const base = await Deno.makeTempDir();
  try {
    const dir = join(base, `deno_dir.native-${crypto.randomUUID()}`);
    await Deno.mkdir(dir);
    let takenMeanwhile: boolean | undefined;
    await trashIfReleased(base, dir, {
      beforeMove: async () => {
        const start = await Deno.open(dir, { read: true }); // as a start locks its new dir
        takenMeanwhile = start.tryLockSync(true);
        start.close();
      },
    });
    assert.equal(takenMeanwhile, false, "no start could lock it before it was moved");
    await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound, "moved into the trash");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

// Review 54 again: "hosts at once" races hosts, and a sweep seldom lands between a start's making of
// its dir and its opening of it; here another host's start sweeps in that very window, every time.
Deno.test("deno dir: a start whose new own dir a sweep moved before it was opened makes another", async () => {
  await using cache = await freshCache();
  const moved: string[] = [];
  const dirs = await pluginDirs(cache.path, "/plugins/p", "p", {
    ownBecause: "a run grant",
    sh: "/bin/sh",
    hooks: {
      beforeLock: async (dir) => {
        if (moved.length > 0) return;
        moved.push(dir);
        // Another host's start of the plugin, a process of its own: its sweep finds the dir no
        // process holds yet, and moves it.
        const sweep = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", SWEEPER, cache.path, "/plugins/p", "p"],
          stdout: "null",
        }).output();
        assert.ok(sweep.success, "the other host's start");
      },
    },
  });
  try {
    assert.equal(moved.length, 1);
    await assert.rejects(Deno.lstat(moved[0]), Deno.errors.NotFound, "the sweep moved it");
    assert.notEqual(dirs.ownDenoDir, moved[0]);
    assert.ok((await Deno.lstat(join(dirs.ownDenoDir!, "location_data"))).isFile, "another, ready");
  } finally {
    releaseDenoDir(dirs.ownDenoDir!);
  }
});

// Review 48: with a mark lost, the plugin's programs could leave 12,000 nested folders in its Deno
// dir, which the host removed in place: Deno's recursive remove overflowed its stack and aborted
// the host at every later start. Deep trees are moved aside, and removed by rm.
Deno.test("deno dir: a tree 12,000 folders deep left in one takes no host down", async () => {
  await using cache = await freshCache();
  const base = baseOf(await plan(cache.path));
  for (const at of ["deno_dir", `deno_dir.native-${crypto.randomUUID()}`]) {
    await Deno.mkdir(join(base, at, "gen"), { recursive: true });
    const made = await new Deno.Command("python3", {
      args: [
        "-c",
        "import os,sys\nos.chdir(sys.argv[1])\nfor _ in range(12000):\n os.mkdir('d'); os.chdir('d')\nopen('payload.js','w').write('x')",
        join(base, at, "gen"),
      ],
    }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
  }
  // Moved aside and swept, a second of rm a start (later starts finish the work).
  for (let start = 0; start < 20 && (await inBase(base)).length > 1; start++) {
    await plan(cache.path);
  }
  assert.deepEqual(await inBase(base), ["home"]);
});

// Review 48: a plugin that left a million files held its next start, and any stop of it, while
// rm removed them (15 s). A start gives rm a second; later starts finish the work. The rm is
// stopped here, so only its deadline can end it.
Deno.test("deno dir: a start waits for the trash's removal only so long", async () => {
  await using cache = await freshCache();
  const trash = join(baseOf(await plan(cache.path)), ".deno_dir.emptied-a-lot");
  await Deno.mkdir(trash);
  const made = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys\nfor i in range(30000):\n os.close(os.open(os.path.join(sys.argv[1], str(i)), os.O_CREAT|os.O_WRONLY))",
      trash,
    ],
  }).output();
  assert.equal(made.code, 0);
  let settled = false;
  const planned = plan(cache.path).finally(() => settled = true);
  let stopped = 0;
  // Until the sweep's rm shows, or the start ends without one having been seen (then it fails).
  while (stopped === 0 && !settled) {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const line = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
      if (line.startsWith("rm\0") && line.includes(trash)) {
        Deno.kill(Number(entry.name), "SIGSTOP");
        stopped = Number(entry.name);
      }
    }
    if (stopped === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await planned; // a stopped rm is killed at its deadline
  assert.ok(stopped !== 0, "the sweep's rm was never seen running");
  assert.ok((await Deno.lstat(trash)).isDirectory, "rm was stopped before it ended");
  // Later starts finish the work, each for at most its second: on a loaded machine (a CI running
  // two test files at once) 30,000 files took one start longer than that.
  const gone = () =>
    Deno.lstat(trash).then(() => false, (error) => error instanceof Deno.errors.NotFound);
  let starts = 0;
  while (!(await gone()) && starts < 20) {
    await plan(cache.path);
    starts++;
  }
  assert.ok(await gone(), `the trash is still there after ${starts} later starts`);
});

// Review 49: on a host not root, a folder its plugin made unwritable could not be removed, and a
// plugin restarted 200 times left 200 folders of trash. The sweep makes such folders writable
// first. The host here is root without capabilities: modes bind it as they bind any user.
Deno.test("deno dir: trash its plugin made unwritable is removed by a host that is not root", async () => {
  await using cache = await freshCache();
  const dirs = await trustedDirs(cache.path, "locked");
  const trash = join(baseOf(dirs), ".deno_dir.emptied-locked");
  await Deno.mkdir(join(trash, "x", "y"), { recursive: true });
  await Deno.writeTextFile(join(trash, "x", "y", "kept"), "what the plugin wrote");
  await Deno.chmod(join(trash, "x", "y"), 0o500);
  await Deno.chmod(join(trash, "x"), 0o500);
  const run = await new Deno.Command("setpriv", {
    args: [
      "--bounding-set=-all",
      "--inh-caps=-all",
      Deno.execPath(),
      "run",
      "-A",
      new URL("../fixtures/sweep_without_caps.ts", import.meta.url).pathname,
      cache.path,
      "/nonexistent/root",
      "locked",
    ],
  }).output();
  assert.equal(
    new TextDecoder().decode(run.stdout).trim(),
    "done",
    new TextDecoder().decode(run.stderr),
  );
  await assert.rejects(Deno.lstat(trash), Deno.errors.NotFound);
});

// Review 50: a run grant's program under the Deno layer can outlive its plugin and keep writing
// its dir after it became trash; the sweep's chmod -R would follow a link it swaps in, and a root
// host would change any file. A host that modes do not bind never chmods: there, rm failed for
// another reason. Here rm fails on a file made immutable.
Deno.test("deno dir: a host modes do not bind never chmods the trash", async () => {
  await using cache = await freshCache();
  const dirs = await trustedDirs(cache.path, "pinned");
  const locked = join(baseOf(dirs), ".deno_dir.emptied-pinned", "locked");
  await Deno.mkdir(locked, { recursive: true });
  const pinned = join(locked, "pinned");
  await Deno.writeTextFile(pinned, "");
  const chattr = (flag: string) => new Deno.Command("chattr", { args: [flag, pinned] }).output();
  assert.equal((await chattr("+i")).code, 0, "chattr +i");
  await Deno.chmod(locked, 0o500);
  try {
    await trustedDirs(cache.path, "pinned");
    assert.equal((await Deno.lstat(locked)).mode! & 0o777, 0o500, "not chmodded");
  } finally {
    await chattr("-i");
  }
});

// Review 49: some 15,000 names of trash overflowed rm's argument list; the spawn failed as if
// there were no sh, and that plugin's trash was never removed again. Names go to rm in batches.
Deno.test("deno dir: trash of 20,000 names is removed, a batch at a time", async () => {
  await using cache = await freshCache();
  const dirs = await trustedDirs(cache.path, "many");
  const base = baseOf(dirs);
  const made = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys,uuid\nfor i in range(20000):\n os.close(os.open(os.path.join(sys.argv[1], '.deno_dir.emptied-' + str(uuid.uuid4())), os.O_CREAT|os.O_WRONLY))",
      base,
    ],
  }).output();
  assert.equal(made.code, 0);
  const trash = async () => (await inBase(base)).filter((n) => n.startsWith(".")).length;
  assert.equal(await trash(), 20_000);
  await trustedDirs(cache.path, "many");
  const left = await trash();
  assert.ok(left < 20_000, `${left} left: none removed`);
  for (let start = 0; start < 30 && (await trash()) > 0; start++) {
    await trustedDirs(cache.path, "many");
  }
  assert.equal(await trash(), 0);
});

// Review 46: the host's own walk of the emptied dir, by path, followed a link a still-running copy
// of the plugin swapped in for a folder it had listed, and removed files outside the dir.
Deno.test("deno dir: emptying it removes nothing outside, whatever a running copy swaps in", async () => {
  await using cache = await freshCache();
  const first = await trustedDirs(cache.path, "swap");
  const legacy = join(baseOf(first), "deno_dir"); // as an earlier plugbox left it, written
  await Deno.mkdir(legacy);
  const victim = join(cache.path, "victim");
  await Deno.mkdir(victim);
  for (const name of ["a", "b", "c"]) await Deno.writeTextFile(join(victim, name), "keep");
  const swapper = new Deno.Command("python3", {
    args: [
      new URL("../fixtures/trash_swapper.py", import.meta.url).pathname,
      legacy,
      victim,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = swapper.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await lines.read()).value?.trim(), "ready");
  const writer = swapper.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  await writer.close();
  await trustedDirs(cache.path, "swap");
  await lines.cancel();
  await swapper.status;
  for (const name of ["a", "b", "c"]) {
    assert.equal(await Deno.readTextFile(join(victim, name)), "keep", name);
  }
});

// The standby had been refused beside a run grant, since both shared the Deno dir (review 43);
// each now has its own.
Deno.test("a hot standby beside a run grant starts in a Deno dir of its own", async () => {
  await using cache = await freshCache();
  const host = new PluginHost({ handleSignals: false });
  const plugin = await host.start("dirs", HELLO, {
    contracts: [Greeter],
    isolation: "deno",
    cacheDir: cache.path,
    hotStandby: true,
    ...RUN,
  });
  assert.equal(await plugin.api(Greeter).sayHello("x"), "hello, x");
  await host.stopAll();
  assert.deepEqual(
    await inBase(baseOf(await plan(cache.path))),
    ["home"],
    "the plugin's and the standby's own dirs both ended",
  );
});
