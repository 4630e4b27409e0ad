// Review 118: attacks on review 117's fix (the Python probe under the plugin's seccomp filter).
// Each test failed on the code it was written against (8e13ef4).
import assert from "node:assert/strict";
import { join } from "node:path";
import { previewStart } from "../../mod.ts";
import { freshCache } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";

/** A new folder by its real path, removed at the end. */
async function tempFolder(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs `use` with `dir` first on PATH, holding a `python3` of `script`. */
async function withPython<T>(dir: string, script: string, use: () => Promise<T>): Promise<T> {
  await Deno.writeTextFile(join(dir, "python3"), script, { mode: 0o755 });
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", `${dir}:${path}`);
  try {
    return await use();
  } finally {
    Deno.env.set("PATH", path);
  }
}

/** The host's own Python interpreter, by its real path. */
async function realPython(): Promise<string> {
  const { stdout } = await new Deno.Command("python3", {
    args: ["-I", "-S", "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

// The probe (a shim's code, which a plugin may have written: review 113) ran for 15 s with no limit
// on memory: one process took 4 GiB in 6 s, the plugin's own cap 512 MiB. The shim asks for 1 GiB
// in one piece (written, so it is held), says whether it got it, and fails so it is shown.
Deno.test("r118: a Python probe's process cannot take more memory than a plugin's", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r118-probe-");
  const python = await realPython();
  const shim = `#!/bin/sh
echo PROBED >&2
"${python}" -I -S -c 'import sys; b = b"x" * (1 << 30); print("ALLOCATED", file=sys.stderr)'
exit 1
`;
  await withPython(dir.path, shim, async () => {
    const error = await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path })
      .then(() => undefined, (error: Error) => error);
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /PROBED/);
    assert.doesNotMatch(error.message, /ALLOCATED/);
  });
});
