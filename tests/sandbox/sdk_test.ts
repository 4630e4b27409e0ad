import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureSdk } from "../../runner/sandbox/sdk.ts";

Deno.test("ensureSdk() builds the bundle once into the cache, read-only, with the import map plugins use", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const deno = Deno.execPath();
    const [a, b] = await Promise.all([ensureSdk(cacheDir, deno), ensureSdk(cacheDir, deno)]);
    assert.deepEqual(a, b, "concurrent callers share one build");
    for (const file of ["plugin.js", "zod.js", "preload.js", "import_map.json"]) {
      const info = await Deno.stat(join(a.dir, file));
      assert.equal(info.mode! & 0o777, 0o444, file);
    }
    const map = JSON.parse(await Deno.readTextFile(a.importMap)).imports;
    for (
      const key of [
        "@plugbox/plugbox/plugin",
        "@plugbox/plugbox/contract",
        "zod",
        "npm:zod@^4",
        "jsr:@plugbox/plugbox/plugin",
      ]
    ) {
      assert.ok(key in map, key);
    }
    assert.equal(map.zod, "./zod.js");
    const sdk = await Deno.readTextFile(join(a.dir, "plugin.js"));
    assert.match(sdk, /from"zod"/, "the SDK bundle shares the one zod bundle");
    const entries = await Array.fromAsync(Deno.readDir(join(cacheDir, "sdk")));
    assert.deepEqual(
      entries.map((e) => e.name),
      [a.dir.split("/").at(-1)],
      "no build folder left behind",
    );
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", cacheDir] }).output();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
