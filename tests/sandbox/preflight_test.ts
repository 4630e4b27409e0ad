import assert from "node:assert/strict";
import { join } from "node:path";
import { PreflightError } from "../../mod.ts";
import { checkGraph, infoArgs } from "../../runner/sandbox/preflight.ts";
import { plantSecrets, SECRET_DIR, tempDir } from "../hostile/_hostile.ts";
import { rejected } from "../_helpers.ts";

/** Runs the graph check alone on a folder, as plan.ts would for a snapshot there. */
async function check(folder: string, prefix: string[] = []) {
  const map = join(folder, "..", "import_map.json");
  await Deno.writeTextFile(map, '{ "imports": {} }');
  return await checkGraph({
    plugin: "p",
    prefix,
    deno: Deno.execPath(),
    entry: join(folder, "main.ts"),
    snapshot: folder,
    root: folder,
    allowedRoots: [folder],
    importMap: map,
    env: { DENO_DIR: join(folder, "..", "deno_dir"), NO_COLOR: "1" },
    timeoutMs: 15_000,
    view: "test",
  });
}

Deno.test("checkGraph() judges a module by its real path: a link inside the folder leading out is refused", async () => {
  // The snapshot walk refuses links before this runs; the check does not rely on it.
  await plantSecrets();
  await using base = await tempDir();
  const folder = join(base.path, "snapshot");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "main.ts"), 'import "./inside.js";\n');
  await Deno.symlink(join(SECRET_DIR, "secret.js"), join(folder, "inside.js"));
  const error = await rejected<PreflightError>(check(folder));
  assert.ok(error instanceof PreflightError, String(error));
  assert.equal(error.reason, "outside-root");
  assert.match(error.message, /real path "\/tmp\/plugbox-hostile\/secret\.js"/);
});

Deno.test("checkGraph() passes a folder whose modules all lie inside it", async () => {
  await using base = await tempDir();
  const folder = join(base.path, "snapshot");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "main.ts"), 'import "./lib.ts";\n');
  await Deno.writeTextFile(join(folder, "lib.ts"), "export const x = 1;\n");
  const summary = await check(folder);
  assert.deepEqual(summary.files, ["lib.ts", "main.ts"]);
  assert.equal(summary.view, "test");
});

// fileURLToPath throws a bare TypeError for these, which read as the host's own mistake (review 41).
Deno.test("checkGraph() refuses a file: import that names no local path, naming the import", async () => {
  for (const written of ["./a%2Fb.ts", "file://evil.example/etc/passwd"]) {
    await using base = await tempDir();
    const folder = join(base.path, "snapshot");
    await Deno.mkdir(folder);
    await Deno.writeTextFile(join(folder, "main.ts"), `import "${written}";\n`);
    const error = await rejected<PreflightError>(check(folder));
    assert.ok(error instanceof PreflightError, `${written}: ${error}`);
    assert.equal(error.reason, "unresolved", error.message);
    assert.ok(error.message.includes(written), error.message);
    assert.match(error.message, /is not a local file path/);
  }
});

Deno.test("infoArgs(): `deno info` gets the run's loading flags (argv; their effects are tested in hostile/)", () => {
  const args = infoArgs({ importMap: "/sdk/import_map.json", entry: "/snap/main.ts" });
  for (const flag of ["--no-config", "--no-lock", "--no-remote", "--no-npm"]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.deepEqual(args.slice(-2), ["--import-map=/sdk/import_map.json", "file:///snap/main.ts"]);
});

Deno.test("checkGraph(): a wrapper that fails before Deno runs (exit 125) is named, not blamed on an import", async () => {
  // The graph check runs under the start's own prologue. A `sh` whose ulimit cannot set the
  // memory limit (posh has no ulimit; a non-root host may have a lower hard limit) ends it with
  // 125 before Deno runs: that is the host's setup, not an import naming a device.
  const { prologue } = await import("../../runner/sandbox/prologue.ts");
  await using base = await tempDir();
  const folder = join(base.path, "plugin");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "main.ts"), "export const x = 1;\n");
  const sh = join(base.path, "sh");
  await Deno.writeTextFile(
    sh,
    `#!/bin/bash
# A sh whose ulimit cannot set a limit.
script=$2; shift 2
exec /bin/bash -c 'ulimit() { echo "ulimit: not permitted" >&2; return 1; }
'"$script" "$@"
`,
  );
  await Deno.chmod(sh, 0o755);
  const error = await rejected<PreflightError>(
    check(folder, prologue(sh, { limits: { dataLimitBytes: 1 << 30 } })),
  );
  assert.ok(error instanceof PreflightError, String(error));
  assert.match(error.message, /sh cannot set the memory limit \(ulimit -d 1048576 KiB\)/);
  assert.doesNotMatch(error.message, /an import may name a device/);
  assert.match(error.message, /before Deno ran/);
});
