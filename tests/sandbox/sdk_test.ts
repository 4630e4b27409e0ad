import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureSdk } from "../../runner/sandbox/sdk.ts";
import { PLUGIN_JS, ZOD_JS, ZOD_SPECIFIER } from "../../runner/sandbox/_sdk_bundle.ts";
import { buildSdkModule, BUNDLE_MODULE } from "../../tools/build_sdk.ts";

async function withCache(test: (cacheDir: string) => Promise<void>): Promise<void> {
  const cacheDir = await Deno.makeTempDir();
  try {
    await test(cacheDir);
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", cacheDir] }).output();
    await Deno.remove(cacheDir, { recursive: true });
  }
}

Deno.test("ensureSdk() writes the prebuilt bundle once into the cache, read-only, with the import map plugins use", async () => {
  await withCache(async (cacheDir) => {
    const [a, b] = await Promise.all([ensureSdk(cacheDir), ensureSdk(cacheDir)]);
    assert.deepEqual(a, b, "concurrent callers share one folder");
    for (const file of ["plugin.js", "zod.js", "preload.js", "import_map.json"]) {
      const info = await Deno.stat(join(a.dir, file));
      assert.equal(info.mode! & 0o777, 0o444, file);
    }
    assert.equal(await Deno.readTextFile(join(a.dir, "zod.js")), ZOD_JS);
    assert.equal(await Deno.readTextFile(join(a.dir, "plugin.js")), PLUGIN_JS);
    const preload = await Deno.readTextFile(a.preload);
    assert.match(preload, /console\.log = console\.error/, "stdout stays the protocol's");
    assert.match(preload, /Array buffer allocation failed/, "a refused ArrayBuffer ends as OOM");
    const map = JSON.parse(await Deno.readTextFile(a.importMap)).imports;
    for (
      const key of [
        "@plugbox/plugbox/plugin",
        "@plugbox/plugbox/contract",
        "zod",
        "npm:zod@^4",
        "jsr:@plugbox/plugbox/plugin",
        "jsr:@plugbox/plugbox@^0.1/contract",
      ]
    ) {
      assert.ok(key in map, key);
    }
    assert.equal(map.zod, "./zod.js");
    assert.equal(map[ZOD_SPECIFIER], "./zod.js", "the specifier plugin.js imports zod by");
    const own = new URL("../../plugin.ts", import.meta.url).href;
    assert.equal(map[own], "./plugin.js", "this install's own plugin.ts URL maps to the bundle");
    const entries = await Array.fromAsync(Deno.readDir(join(cacheDir, "sdk")));
    assert.deepEqual(
      entries.map((e) => e.name),
      [a.dir.split("/").at(-1)],
      "no build folder left behind",
    );
  });
});

Deno.test("ensureSdk() moves a damaged SDK folder aside and writes it again", async () => {
  await withCache(async (cacheDir) => {
    const good = await ensureSdk(cacheDir);
    const other = await Deno.makeTempDir({ dir: cacheDir });
    const damaged = join(other, "sdk", good.dir.split("/").at(-1)!);
    await Deno.mkdir(damaged, { recursive: true });
    await Deno.writeTextFile(join(damaged, "zod.js"), "export const z = 'not zod';");
    const again = await ensureSdk(other);
    assert.equal(again.dir, damaged);
    assert.equal(await Deno.readTextFile(join(again.dir, "zod.js")), ZOD_JS);
    const names = (await Array.fromAsync(Deno.readDir(join(other, "sdk")))).map((e) => e.name);
    assert.ok(names.some((n) => n.includes(".damaged-")), names.join(", "));
  });
});

Deno.test("the SDK bundle holds one copy of zod: plugin.js imports it by name and carries none of it", () => {
  assert.ok(PLUGIN_JS.includes(`from"${ZOD_SPECIFIER}"`), "plugin.js imports zod by name");
  // zod's own words (its async-parse error), not a name plugbox's code may mention too.
  const zodOnly = "Encountered Promise during synchronous parse";
  assert.ok(ZOD_JS.includes(zodOnly), "the marker is zod's");
  assert.ok(!PLUGIN_JS.includes(zodOnly), "zod's own code is not inside plugin.js");
  assert.ok(ZOD_JS.includes("$ZodType"), "zod.js is zod");
  assert.ok(PLUGIN_JS.length < 64 * 1024, `plugin.js is ${PLUGIN_JS.length} characters`);
});

Deno.test(`${BUNDLE_MODULE} is byte for byte what deno task sdk builds from the sources`, async () => {
  const fresh = await buildSdkModule();
  const checkedIn = await Deno.readTextFile(new URL(`../../${BUNDLE_MODULE}`, import.meta.url));
  assert.ok(fresh === checkedIn, `${BUNDLE_MODULE} is out of date: run deno task sdk`);
});

// CI (stop 30): four `plug approve` at once on one new cache failed with "Directory not empty":
// each host took the folder another had just renamed in for damaged, moved it aside, and lost
// its own rename.
Deno.test("ensureSdk() and ensureLauncher() in six host processes at once: each gets the folders, none is moved aside", async () => {
  for (let round = 0; round < 3; round++) {
    await withCache(async (cacheDir) => {
      const runs = await Promise.all(
        Array.from({ length: 6 }, () =>
          new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              new URL("../fixtures/publish_host.ts", import.meta.url).pathname,
              cacheDir,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output()),
      );
      const printed = runs.map((run) =>
        new TextDecoder().decode(run.success ? run.stdout : run.stderr).trim()
      );
      assert.equal(new Set(printed).size, 1, printed.join("\n"));
      for (const folder of ["sdk", "launcher"]) {
        const entries = await Array.fromAsync(Deno.readDir(join(cacheDir, folder)));
        const names = entries.map((e) => e.name);
        assert.equal(names.length, 1, `round ${round}, ${folder}: ${names.join(", ")}`);
      }
    });
  }
});
