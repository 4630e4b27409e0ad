// The SDK's shared code cache: plugbox fills it itself, in a Deno process
// that runs no plugin code, and every plugin without a run, ffi or all grant
// runs in it read-only (Deno reads the SDK's compiled code from it and writes
// nothing); a start with such a grant gets a writable copy of its own. That
// no plugin can change or grow it is THREATS T7, in tests/hostile/runtime_test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { previewStart, startPlugin } from "../../mod.ts";
import { launchPlugin } from "../../runner/host/mod.ts";
import { planPlugin } from "../../runner/sandbox/mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { emptyDenoDir, SEEDED_CACHES } from "../../runner/sandbox/code_cache.ts";
import { Probe } from "../hostile/plugins/probe.ts";
import { freshCache } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

async function seedDir(cache: string): Promise<string> {
  const found = await Array.fromAsync(Deno.readDir(join(cache, "sdk-seed")));
  const seeds = found.filter((e) => e.isDirectory && !e.name.startsWith("."));
  assert.equal(seeds.length, 1, "one seed per SDK and Deno");
  return join(cache, "sdk-seed", seeds[0].name);
}

async function fingerprint(dir: string): Promise<string> {
  const hash = createHash("sha256");
  for (
    const entry of (await Array.fromAsync(Deno.readDir(dir))).sort((a, b) =>
      a.name < b.name ? -1 : 1
    )
  ) {
    hash.update(entry.name);
    hash.update(await Deno.readFile(join(dir, entry.name)));
  }
  return hash.digest("hex");
}

function cachedSpecifiers(file: string): string[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare("SELECT specifier FROM codecache").all().map((row) => String(row.specifier));
  } finally {
    db.close();
  }
}

Deno.test("plugins without a run, ffi or all grant run in the SDK's seed, read-only", async () => {
  await using cache = await freshCache();
  const a = await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  const b = await previewStart(HELLO, { name: "b", isolation: "os", cacheDir: cache.path });
  const seed = await seedDir(cache.path);
  assert.equal(a.env.DENO_DIR, seed);
  assert.equal(b.env.DENO_DIR, seed);
  assert.equal((await Deno.stat(seed)).mode! & 0o222, 0, "the seed's folder is read-only");
  for (const entry of await Array.fromAsync(Deno.readDir(seed))) {
    const info = await Deno.lstat(join(seed, entry.name));
    assert.ok(info.isFile, entry.name);
    assert.equal(info.mode! & 0o222, 0, `${entry.name} in the seed is read-only`);
  }
  assert.ok(cachedSpecifiers(join(seed, "v8_code_cache_v2")).some((s) => s.endsWith("/zod.js")));
  // Under the OS layer the seed is mounted read-only too: bound by the mount, not only by modes.
  const binds = b.args.flatMap((arg, i) => arg === seed ? [b.args[i - 1]] : []);
  assert.ok(binds.includes("--ro-bind"), b.args.join(" "));
  assert.ok(!binds.includes("--bind"), "never mounted writable");
  // The module-graph verdict is the content's, not the name's: one check for both (one layer).
  const c = await previewStart(HELLO, { name: "c", isolation: "deno", cacheDir: cache.path });
  assert.equal(a.graph.view, c.graph.view);
});

// SQLite opens a log-mode database it may not write only with its log and index beside it, and
// Deno then drops a cache whose tables are not in the database itself: a seed without both was
// never read, and every plugin compiled zod at every start (measured: 200 ms a start).
Deno.test("a plugin reads the SDK's compiled code from the read-only seed", async () => {
  await using cache = await freshCache();
  const plan = await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  const run = plan.args.indexOf("run");
  const denoArgs = plan.args.slice(run + 1).filter((arg) => !arg.startsWith("--plugbox-nonce"));
  // The plugin's Deno, its flags and environment, as a process modes bind (no capabilities).
  const child = await new Deno.Command("setpriv", {
    args: [
      ...["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"],
      plan.args[run - 1],
      ...["run", "--log-level=debug", ...denoArgs],
    ],
    env: plan.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(child.stderr);
  assert.match(log, /V8 code cache hit for ES module: file:\/\/\S+\/zod\.js/, log.slice(-4000));
  assert.doesNotMatch(log, /Failed creating cache db/);
  // Nor does it try to write the transpiled plugin, which Deno retried for 150 ms a module.
  assert.doesNotMatch(log, /Error saving emit data/);
});

Deno.test("a start with a run grant gets a writable copy of the seed of its own", async () => {
  await using cache = await freshCache();
  const options = {
    isolation: "deno" as const,
    cacheDir: cache.path,
    permissions: { run: ["/bin/true"] },
    unsafe: { run: true },
    manifest: "ignore" as const,
  };
  // Planned, not yet run: what is in its dir is the copy, not what its own run compiled.
  const plan = await planPlugin(HELLO, options);
  const seed = await seedDir(cache.path);
  const own = plan.env.DENO_DIR;
  assert.notEqual(own, seed);
  assert.equal(plan.env.DENO_EMIT_CACHE_MODE, undefined, "its own may cache what it compiles");
  for (const name of SEEDED_CACHES) {
    const info = await Deno.stat(join(own, name));
    assert.equal(info.mode! & 0o600, 0o600, `${name} is its own to write`);
  }
  assert.ok(cachedSpecifiers(join(own, "v8_code_cache_v2")).some((s) => s.endsWith("/zod.js")));
  await using plugin = await launchPlugin(plan, { contracts: [Greeter] });
  assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a");
});

Deno.test("plugins that run leave the seed as it was", async () => {
  await using cache = await freshCache();
  await using first = await startPlugin(HELLO, {
    contracts: [Greeter],
    name: "first",
    isolation: "deno",
    cacheDir: cache.path,
  });
  const seed = await seedDir(cache.path);
  const before = await fingerprint(seed);
  assert.equal(await first.api(Greeter).sayHello("a"), "hello, a");
  await first.close();
  assert.equal(await fingerprint(seed), before, "Deno wrote nothing there");
});

// A root host's plugin under the Deno layer without setpriv keeps the capabilities that override
// the seed's modes: Deno would write the seed every plugin runs in. Such a start gets its own dir.
Deno.test("a root host without setpriv gives each start a Deno dir of its own", async () => {
  await using cache = await freshCache();
  const bin = await Deno.makeTempDir();
  try {
    for (const tool of ["prlimit", "setsid", "ldd", "sh", "bash"]) {
      await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
    }
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", new URL("../fixtures/plan_host.ts", import.meta.url).pathname],
        HELLO.pathname,
        JSON.stringify({ isolation: "deno", cacheDir: cache.path }),
      ],
      env: { PATH: bin, HOME: Deno.env.get("HOME")! },
      clearEnv: true,
    }).output();
    const plan = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.ok(plan.ok, new TextDecoder().decode(run.stderr) + JSON.stringify(plan));
    assert.match(plan.denoDir, /\/deno_dir\.native-[0-9a-f-]{36}$/);
    assert.ok(
      plan.notes.includes(
        "deno dir: its own for this start, removed once it ends (without setpriv it keeps a root host's capabilities, which override file modes)",
      ),
      plan.notes.join("\n"),
    );
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** Whether the seed is as plugbox sealed it: nothing writable, owned by nobody (a root host). */
async function assertSealed(seed: string): Promise<void> {
  for (
    const path of [
      seed,
      ...(await Array.fromAsync(Deno.readDir(seed))).map((e) => join(seed, e.name)),
    ]
  ) {
    const info = await Deno.lstat(path);
    assert.equal(info.mode! & 0o222, 0, `${path} is writable`);
    assert.equal(info.uid, 65534, `${path} is owned by ${info.uid}`);
  }
}

// Review 51: the seed's owner was the host's user, as every plugin is: a run grant's program
// under the Landlock layer (which controls no chmod) made it writable, and the plugins after it
// grew it 104 MB in 10 s. A root host gives it to a user no plugin runs as.
Deno.test("a run grant's program under the Landlock layer cannot make the seed, or any file, writable", async () => {
  await using cache = await freshCache();
  /** The escalating plugin under the Landlock layer, granted to run `program`. */
  const running = (program: string) =>
    startPlugin(new URL("../hostile/plugins/t8_escalating_grants.ts", import.meta.url), {
      contracts: [Probe],
      isolation: "landlock",
      cacheDir: cache.path,
      permissions: { run: [program] },
      unsafe: { run: true },
      manifest: "ignore",
    });
  await using plugin = await running("/usr/bin/chmod");
  const seed = await seedDir(cache.path);
  assert.match(await plugin.api(Probe).attempt(`chmod ${seed}`), /^chmod [1-9]/);
  await assertSealed(seed);
  // Nor any file of the host's user (root's /etc/passwd, review 52): here one of the host's own.
  const victim = join(cache.path, "host-only");
  await Deno.writeTextFile(victim, "the host's", { mode: 0o600 });
  assert.match(await plugin.api(Probe).attempt(`chmod ${victim}`), /^chmod [1-9]/);
  assert.equal((await Deno.lstat(victim)).mode! & 0o777, 0o600);
  // Nor by a POSIX ACL, which rewrites the mode, or a chown that clears a set-UID bit (review 53).
  await using python = await running("/usr/bin/python3.11");
  await Deno.chmod(victim, 0o4700);
  assert.equal(
    await python.api(Probe).attempt(`meta ${victim}`),
    "acl refused 1; chown refused 1",
  );
  assert.equal((await Deno.lstat(victim)).mode! & 0o7777, 0o4700);
});

// What changed the seed anyway (the host's own user, on a host not root) does not reach a later
// start: a seed whose modes, owner or names changed is set aside and built again.
Deno.test("a seed or empty dir that is no longer sealed is set aside and made again", async () => {
  await using cache = await freshCache();
  const first = await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  const seed = first.env.DENO_DIR;
  await Deno.chmod(seed, 0o755);
  await Deno.writeTextFile(join(seed, "grown"), "what a plugin wrote");
  const next = await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  assert.equal(next.env.DENO_DIR, seed, "built again in its place");
  await assert.rejects(Deno.lstat(join(seed, "grown")), Deno.errors.NotFound);
  await assertSealed(seed);
  const aside = (await Array.fromAsync(Deno.readDir(join(seed, "..")))).map((e) => e.name);
  assert.ok(aside.some((n) => n.startsWith(".set-aside-")), aside.join(", "));
  // Written in place (made writable a moment, then sealed again: review 52): names and modes as
  // they were, its size not.
  const code = join(seed, "v8_code_cache_v2");
  await Deno.chmod(code, 0o644);
  await Deno.writeTextFile(code, "grown", { append: true });
  await Deno.chmod(code, 0o444);
  const third = await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  assert.equal(third.env.DENO_DIR, seed);
  assert.ok(!(await Deno.readTextFile(code)).endsWith("grown"), "built again");
  // The empty dir of a host without a seed, the same.
  const empty = await emptyDenoDir(cache.path, "/bin/sh");
  await Deno.chmod(empty, 0o777);
  assert.equal(await emptyDenoDir(cache.path, "/bin/sh"), empty);
  assert.equal((await Deno.lstat(empty)).mode! & 0o777, 0o555);
  // What was set aside there is removed by a later making once old (review 55: it was in the cache's
  // root, where no sweep looked).
  const [aged] = (await Array.fromAsync(Deno.readDir(join(empty, ".."))))
    .map((e) => e.name).filter((n) => n.startsWith(".set-aside-"));
  assert.ok(aged);
  const anHourAgo = new Date(Date.now() - 3_600_000);
  await Deno.utime(join(empty, "..", aged), anHourAgo, anHourAgo);
  await Deno.chmod(empty, 0o777);
  assert.equal(await emptyDenoDir(cache.path, "/bin/sh"), empty);
  const left = (await Array.fromAsync(Deno.readDir(join(empty, "..")))).map((e) => e.name);
  assert.ok(!left.includes(aged), left.join(", "));
  assert.equal(left.filter((n) => n.startsWith(".set-aside-")).length, 1, "the young one stays");
});

// Review 52: seeds set aside, and the temporary folders of a host killed mid-build, were never
// removed. A build removes those an hour old (sealed ones included), never a young one.
Deno.test("a build removes old seeds set aside and old temporary folders, not young ones", async () => {
  await using cache = await freshCache();
  const seed = (await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path })).env
    .DENO_DIR;
  const folder = join(seed, "..");
  const make = async (name: string, age: number) => {
    await Deno.mkdir(join(folder, name, "sealed"), { recursive: true });
    await Deno.writeTextFile(join(folder, name, "sealed", "file"), "x");
    await Deno.chmod(join(folder, name, "sealed"), 0o555);
    const when = new Date(Date.now() - age);
    await Deno.utime(join(folder, name), when, when);
  };
  await make(".set-aside-old", 3_600_000);
  await make(".build-old", 3_600_000);
  await make(".seed-young", 1_000);
  await make("other-old", 3_600_000); // not a name a build leaves
  await Deno.chmod(seed, 0o755); // so the next start builds
  await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  const left = (await Array.fromAsync(Deno.readDir(folder))).map((e) => e.name);
  assert.ok(!left.includes(".set-aside-old") && !left.includes(".build-old"), left.join(", "));
  assert.ok(left.includes(".seed-young") && left.includes("other-old"), left.join(", "));
  for (const name of [".seed-young", "other-old"]) {
    await Deno.chmod(join(folder, name, "sealed"), 0o755);
  }
});

// Review 51: a host not root could not move its read-only seed into the seeds' folder (a rename
// into another folder needs write permission on the folder moved), so every start was cold. And
// hosts building one seed at once each get it.
Deno.test("hosts not root, three at once, each build or take the seed", async () => {
  await using cache = await freshCache();
  // The cache its hosts' user's, the SDK's copy included.
  const chown = await new Deno.Command("chown", { args: ["-R", "65534:65534", cache.path] })
    .output();
  assert.ok(chown.success);
  const seeds = await Promise.all([0, 1, 2].map(async (i) => {
    const run = await new Deno.Command("setpriv", {
      args: [
        ...["--reuid=65534", "--regid=65534", "--clear-groups", "--"],
        Deno.execPath(),
        ...["run", "-A", new URL("../fixtures/seed_host.ts", import.meta.url).pathname],
        cache.path,
      ],
      // The host's own module cache, its user's.
      env: { DENO_DIR: join(cache.path, `host-${i}`), HOME: cache.path },
      clearEnv: true,
    }).output();
    return new TextDecoder().decode(run.stdout).trim() || new TextDecoder().decode(run.stderr);
  }));
  const seed = await seedDir(cache.path);
  assert.deepEqual(seeds, [seed, seed, seed]);
  assert.equal((await Deno.lstat(seed)).uid, 65534);
  assert.equal((await Deno.lstat(seed)).mode! & 0o777, 0o555);
});

// A host whose seed cannot be built (here its place is taken by a file) still starts plugins, in
// an empty read-only Deno dir: slower, and still writing nothing.
Deno.test("without a seed, plugins run in an empty read-only Deno dir", async () => {
  await using cache = await freshCache();
  await Deno.writeTextFile(join(cache.path, "sdk-seed"), "not a folder");
  await using plugin = await startPlugin(HELLO, {
    contracts: [Greeter],
    isolation: "deno",
    cacheDir: cache.path,
  });
  assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a");
  const dir = plugin.plan.env.DENO_DIR;
  assert.ok(
    plugin.plan.notes.includes(
      "deno dir: without the SDK's code cache, which could not be built (a slower start)",
    ),
    plugin.plan.notes.join("\n"),
  );
  assert.equal((await Deno.stat(dir)).mode! & 0o222, 0);
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), []);
  // A failure is not kept: once the seed can be built, the next start has it.
  await Deno.remove(join(cache.path, "sdk-seed"));
  const next = await previewStart(HELLO, { isolation: "deno", cacheDir: cache.path });
  assert.equal(next.env.DENO_DIR, await seedDir(cache.path));
});
