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
import { SEEDED_CACHES } from "../../runner/sandbox/code_cache.ts";
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
