// The SDK's shared code cache: a new plugin name starts from a copy of a
// cache plugbox filled itself (read-only, never a plugin's Deno dir), and
// each plugin's own Deno dir stays its own. That no plugin can change the
// seed is THREATS T7, in tests/hostile/runtime_test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { SEED_MARKER, seedDenoDir, SEEDED_CACHES } from "../../runner/sandbox/code_cache.ts";
import { freshCache, within } from "../_helpers.ts";

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

/** Plugin "a"'s Deno dir once planned (so seeded) in `cache`, and the name its seed left there. */
async function seededDenoDir(cache: string): Promise<{ denoDir: string; marker: Deno.DirEntry }> {
  const plan = await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache });
  const denoDir = plan.env.DENO_DIR;
  const marker = (await Array.fromAsync(Deno.readDir(denoDir)))
    .find((e) => e.name.startsWith(SEED_MARKER));
  assert.ok(marker?.isFile, "the seed given is named");
  return { denoDir, marker };
}

function cachedSpecifiers(file: string): string[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare("SELECT specifier FROM codecache").all().map((row) => String(row.specifier));
  } finally {
    db.close();
  }
}

Deno.test("a new plugin name starts with the SDK compiled, in a Deno dir of its own", async () => {
  await using cache = await freshCache();
  const a = await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  const b = await previewStart(HELLO, { name: "b", isolation: "deno", cacheDir: cache.path });
  assert.notEqual(a.env.DENO_DIR, b.env.DENO_DIR, "each plugin has its own writable Deno dir");
  const seed = await seedDir(cache.path);
  for (const name of SEEDED_CACHES) {
    const info = await Deno.stat(join(seed, name));
    assert.equal(info.mode! & 0o222, 0, `${name} in the seed is read-only`);
  }
  // Before either has run, each Deno dir already holds zod's compiled code: a warm first start.
  for (const plan of [a, b]) {
    const cached = cachedSpecifiers(join(plan.env.DENO_DIR, "v8_code_cache_v2"));
    assert.ok(cached.some((s) => s.endsWith("/zod.js")), cached.join(", "));
  }
  // The module-graph verdict is the content's, not the name's: one check for both.
  assert.equal(a.graph.view, b.graph.view);
  assert.equal((await Array.fromAsync(Deno.readDir(join(cache.path, "verified")))).length, 1);
});

Deno.test("plugins that run leave the seed as it was; each one's caches are its own", async () => {
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
  await first.close(); // Deno folds its write-ahead log into its own copy on exit
  assert.equal(
    await fingerprint(seed),
    before,
    "the plugin's own cache writes never reach the seed",
  );
});

// A Deno dir filled before plugbox's SDK or Deno changed holds no cache entry for the new SDK:
// without a new copy, every plugin of an upgraded host started cold once and held about twice
// the memory for its life (27 against 13 MiB here, 900 plugins of a crowd).
Deno.test("a Deno dir seeded from another SDK is seeded again, once; a name a plugin plants stops only its own seeding", async () => {
  await using cache = await freshCache();
  const { denoDir, marker } = await seededDenoDir(cache.path);
  const code = join(denoDir, "v8_code_cache_v2");
  // As an older plugbox (or SDK) left it: its own caches, no name for this seed, a journal.
  await Deno.remove(join(denoDir, marker.name));
  await Deno.writeTextFile(code, "an older SDK's cache");
  for (const journal of ["-wal", "-shm", "-journal"]) {
    await Deno.writeTextFile(`${code}${journal}`, "its journal");
  }
  // Every name the seeding makes in the Deno dir, in order (inotify's): no temporary file may
  // appear there, as a root host's chmod of it would follow a link the plugin swapped in.
  const made: string[] = [];
  const watcher = Deno.watchFs(denoDir, { recursive: false });
  const watching = (async () => {
    for await (const event of watcher) {
      made.push(...event.paths.map((path) => path.slice(denoDir.length + 1)));
      if (made.includes(marker.name)) return;
    }
  })();
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  await within(watching, 10_000, "the seeding's last step, its name");
  watcher.close();
  assert.deepEqual(made.filter((name) => name.includes(".seed-")), [], made.join(", "));
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(join(denoDir, "..")))).map((e) => e.name).sort(),
    ["deno_dir", "home"],
    "no temporary file is left beside the Deno dir",
  );
  assert.ok(cachedSpecifiers(code).some((s) => s.endsWith("/zod.js")), "the SDK compiled again");
  for (const journal of ["-wal", "-shm", "-journal"]) {
    await assert.rejects(Deno.lstat(`${code}${journal}`), Deno.errors.NotFound, journal);
  }
  assert.ok((await Deno.lstat(join(denoDir, marker.name))).isFile);
  // Once given this seed, the dir is the plugin's own: a later start copies nothing over it.
  await Deno.writeTextFile(code, "the plugin's own");
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  assert.equal(await Deno.readTextFile(code), "the plugin's own");
  // A plugin that plants the name (a link to a host file here) stops its own seeding only:
  // nothing is written through it.
  const outside = join(cache.path, "host-file");
  await Deno.writeTextFile(outside, "host");
  await Deno.remove(join(denoDir, marker.name));
  await Deno.symlink(outside, join(denoDir, marker.name));
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  assert.equal(await Deno.readTextFile(outside), "host");
  assert.equal(await Deno.readTextFile(code), "the plugin's own");
  // A seeding that cannot finish (a folder planted at a cache's name) names no seed: the next
  // start tries again.
  await Deno.remove(join(denoDir, marker.name));
  await Deno.remove(code);
  await Deno.mkdir(code);
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  await assert.rejects(Deno.lstat(join(denoDir, marker.name)), Deno.errors.NotFound);
  const graph = join(denoDir, "dep_analysis_cache_v2");
  assert.ok((await Deno.lstat(graph)).isFile, "the caches that could be copied were");
});

// A host that died between a copy and its rename left the copy beside the Deno dir (about the
// seed file's size, every time): the next seeding removes it, but not a copy young enough to be
// another host's seeding under way.
Deno.test("a seeding removes the copies a dead host's seeding left, not one under way", async () => {
  await using cache = await freshCache();
  const { denoDir, marker } = await seededDenoDir(cache.path);
  const folder = join(denoDir, "..");
  await Deno.remove(join(denoDir, marker.name)); // so the next start seeds again
  const copy = (name: string) => join(folder, `.${name}.seed-${crypto.randomUUID()}`);
  const abandoned = SEEDED_CACHES.map(copy);
  const underWay = copy(SEEDED_CACHES[0]);
  const other = join(folder, ".v8_code_cache_v2.seed-not-a-uuid");
  for (const path of [...abandoned, underWay, other]) await Deno.writeTextFile(path, "a copy");
  const longAgo = new Date(Date.now() - 5 * 60_000);
  for (const path of [...abandoned, other]) await Deno.utime(path, longAgo, longAgo);
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  assert.ok((await Deno.lstat(join(denoDir, marker.name))).isFile, "seeded again");
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(folder))).map((e) => e.name).sort(),
    [".v8_code_cache_v2.seed-not-a-uuid", underWay.slice(folder.length + 1), "deno_dir", "home"]
      .sort(),
  );
});

// Two starts of one plugin name at once (in one host) each found the Deno dir unseeded: the
// second then removed the journals of the file the first had just renamed in, under a plugin
// that may have opened it already.
Deno.test("two seedings of one Deno dir at once copy once, one after the other", async () => {
  await using cache = await freshCache();
  await previewStart(HELLO, { name: "a", isolation: "deno", cacheDir: cache.path });
  const seed = await seedDir(cache.path);
  const denoDir = join(cache.path, "b", "deno_dir");
  await Deno.mkdir(denoDir, { recursive: true });
  const both = await Promise.all([seedDenoDir(seed, denoDir), seedDenoDir(seed, denoDir)]);
  assert.deepEqual(both, [true, false], "the second found the first one's seed named");
  assert.ok(cachedSpecifiers(join(denoDir, "v8_code_cache_v2")).some((s) => s.endsWith("/zod.js")));
});
