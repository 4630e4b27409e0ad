/**
 * A `python3` of the test's own first on the host's PATH, for tests of the
 * host's probe of a Python plugin's interpreter (reviews 113 to 118).
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { freshCache } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

/** A new folder by its real path, removed at the end. */
export async function tempFolder(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs `use` with `dir` first on PATH, holding a `python3` of `script`. */
export async function withPython<T>(
  dir: string,
  script: string,
  use: () => Promise<T>,
): Promise<T> {
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
export async function realPython(): Promise<string> {
  const { stdout } = await new Deno.Command("python3", {
    args: ["-I", "-S", "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

/** The real interpreter's standard library, as sysconfig says. */
export async function realStdlib(): Promise<string> {
  const { stdout } = await new Deno.Command(await realPython(), {
    args: ["-I", "-S", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

/** A probe's answer naming `executable` and `stdlib` (its site-packages below it), as one line. */
export function probeAnswer(executable: string, stdlib: string): string {
  const sitePackages = join(stdlib, "site-packages");
  return JSON.stringify({
    executable,
    stdlib,
    platstdlib: stdlib,
    purelib: sitePackages,
    platlib: sitePackages,
  });
}

/** A preview of the hostile Python plugin refused as a `TypeError` (the probe's stderr in it). */
export async function probeRefusal(cacheDir: string): Promise<TypeError> {
  const error = await previewStart(hostile("py_probe/main.py"), { cacheDir })
    .then(() => undefined, (error: Error) => error);
  assert.ok(error instanceof TypeError, String(error));
  return error;
}

/**
 * A Python plugin whose probe answers `answer` (a shim made in `shimDir`) and a Deno plugin granted
 * to write `writes`, in this process, `first` starting first on a cache of their own: the other is
 * refused, the writer by its grant, the Python plugin by its runtime's folder (reviews 119, 120 and
 * 125). A launch records what it holds before it spawns, so whether the Python plugin then answers
 * does not matter.
 */
export async function refusedAfterTheOther(
  shimDir: string,
  answer: string,
  writes: string,
  first: "python" | "writer",
): Promise<void> {
  await using cache = await freshCache();
  const writer = () =>
    startPlugin(hostile("r110_plants_program.ts"), {
      contracts: [Probe],
      cacheDir: cache.path,
      isolation: "deno",
      permissions: { write: [writes] },
      unsafe: { writeAsRoot: true },
    });
  await Deno.mkdir(shimDir);
  await withPython(shimDir, `#!/bin/sh\necho '${answer}'\n`, async () => {
    const python = () =>
      startPlugin(hostile("py_probe/main.py"), { contracts: [Probe], cacheDir: cache.path })
        .then((plugin) => plugin.close(), (error: Error) => error);
    if (first === "python") {
      const started = await python();
      assert.ok(!(started instanceof TypeError), String(started));
      const refused = await writer().then(
        async (plugin) => void await plugin.close(),
        (error: Error) => error,
      );
      assert.ok(refused instanceof TypeError, `the writer started: ${refused}`);
      assert.match(refused.message, /Cannot grant write .*code of a plugin started/);
    } else {
      await using _ = await writer();
      const refused = await python();
      assert.ok(refused instanceof TypeError, `the Python plugin started: ${refused}`);
      assert.match(refused.message, /runtime's folder .* overlaps .*given to write/);
    }
  });
}
