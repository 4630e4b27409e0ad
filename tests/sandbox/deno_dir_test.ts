// A plugin's Deno dir, the one folder it writes that outlives it (review 43): what a program or
// native code of the plugin's wrote there is not loaded by its next start, it does not grow
// without bound between starts, and the host writes nothing in it through a link.
import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginHost, previewStart } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { DENO_DIR_MAX_BYTES, pluginDirs } from "../../runner/sandbox/locate.ts";
import { freshCache, rejected } from "../_helpers.ts";

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

Deno.test("deno dir: after a start with a run grant, the next start begins from an empty one", async () => {
  await using cache = await freshCache();
  const first = await plan(cache.path, true);
  const denoDir = first.env.DENO_DIR;
  // What the granted program could leave: anything, a module Deno's caches name included.
  await Deno.writeTextFile(join(denoDir, "payload.js"), "globalThis.poisoned = true;\n");
  const next = await plan(cache.path);
  assert.equal(next.env.DENO_DIR, denoDir);
  assert.ok(
    next.notes.includes(
      "deno dir: started empty (a run, ffi or all grant let the last start write it freely)",
    ),
    next.notes.join("\n"),
  );
  await assert.rejects(Deno.lstat(join(denoDir, "payload.js")), Deno.errors.NotFound);
  // The dir is seeded again for this start, and a start without the grant leaves no mark.
  assert.ok((await Deno.lstat(join(denoDir, "v8_code_cache_v2"))).isFile);
  const third = await plan(cache.path);
  assert.ok(!third.notes.some((n) => n.startsWith("deno dir:")), third.notes.join("\n"));
});

// Review 45: Deno's recursive remove overflowed its stack on 12,000 nested folders and aborted the
// host, at every later start. The dir is moved aside, and removed one entry at a time.
Deno.test("deno dir: one nested 12,000 folders deep is emptied without taking the host down", async () => {
  await using cache = await freshCache();
  const denoDir = (await plan(cache.path, true)).env.DENO_DIR;
  const made = await new Deno.Command("python3", {
    args: [
      "-c",
      "import os,sys\nos.chdir(sys.argv[1])\nfor _ in range(12000):\n os.mkdir('d'); os.chdir('d')\nopen('payload.js','w').write('x')",
      denoDir,
    ],
  }).output();
  assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
  const next = await plan(cache.path);
  assert.ok(next.notes.some((n) => n.startsWith("deno dir: started empty")), next.notes.join("\n"));
  await assert.rejects(Deno.lstat(join(denoDir, "d")), Deno.errors.NotFound);
  // Moved aside and swept: nothing of it is left beside the dir.
  const base = join(denoDir, "..");
  const left = (await Array.fromAsync(Deno.readDir(base))).filter((e) => e.name.startsWith("."));
  assert.deepEqual(left.map((e) => e.name), []);
});

// Review 46: the host's own walk of the emptied dir, by path, followed a link a still-running copy
// of the plugin swapped in for a folder it had listed, and removed files outside the dir.
Deno.test("deno dir: emptying it removes nothing outside, whatever a running copy swaps in", async () => {
  await using cache = await freshCache();
  const first = await pluginDirs(cache.path, "/nonexistent/root", "swap", { untrusted: true });
  const victim = join(cache.path, "victim");
  await Deno.mkdir(victim);
  for (const name of ["a", "b", "c"]) await Deno.writeTextFile(join(victim, name), "keep");
  const swapper = new Deno.Command("python3", {
    args: [
      new URL("../fixtures/trash_swapper.py", import.meta.url).pathname,
      first.denoDir,
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
  await pluginDirs(cache.path, "/nonexistent/root", "swap", { untrusted: false });
  await lines.cancel();
  await swapper.status;
  for (const name of ["a", "b", "c"]) {
    assert.equal(await Deno.readTextFile(join(victim, name)), "keep", name);
  }
});

Deno.test("deno dir: one grown past its cap between starts begins empty", async () => {
  await using cache = await freshCache();
  const denoDir = (await plan(cache.path)).env.DENO_DIR;
  const filler = join(denoDir, "gen", "data", "filler");
  await Deno.mkdir(join(denoDir, "gen", "data"), { recursive: true });
  await Deno.writeFile(filler, new Uint8Array());
  await Deno.truncate(filler, DENO_DIR_MAX_BYTES + 1); // sparse: its size is what counts
  const next = await plan(cache.path);
  assert.ok(
    next.notes.includes(
      `deno dir: started empty (it held more than ${DENO_DIR_MAX_BYTES} bytes or 5000 entries)`,
    ),
    next.notes.join("\n"),
  );
  await assert.rejects(Deno.lstat(filler), Deno.errors.NotFound);
});

// A running copy of the plugin may swap a link in where the host writes `location_data`: the host
// then truncated and chmodded whatever it pointed at, as root (review 43).
Deno.test("deno dir: location_data is never written through a link swapped in meanwhile", async () => {
  await using cache = await freshCache();
  const dirs = await pluginDirs(cache.path, "/nonexistent/root", "race", { untrusted: false });
  const victim = join(cache.path, "victim");
  await Deno.writeTextFile(victim, "the host's own data\n", { mode: 0o600 });
  const swapper = new Deno.Command("sh", {
    args: [
      "-c",
      `cd "$1" && while :; do rm -f location_data; ln -s "$2" location_data; done`,
      "sh",
      dirs.denoDir,
      victim,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 300; i++) {
      await pluginDirs(cache.path, "/nonexistent/root", "race", { untrusted: false });
    }
  } finally {
    swapper.kill("SIGKILL");
    await swapper.status;
  }
  assert.equal(await Deno.readTextFile(victim), "the host's own data\n");
  assert.equal((await Deno.stat(victim)).mode! & 0o777, 0o600);
});

Deno.test("a hot standby is refused beside a run, ffi or all grant: they share the Deno dir", async () => {
  await using host = new PluginHost();
  const error = await rejected(host.start("hello", HELLO, {
    contracts: [Greeter],
    hotStandby: true,
    permissions: { run: ["/bin/true"] },
    unsafe: { run: true },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /hotStandby and a run, ffi or all grant/);
});
