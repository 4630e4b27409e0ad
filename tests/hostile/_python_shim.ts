/**
 * A `python3` of the test's own first on the host's PATH, for tests of the
 * host's probe of a Python plugin's interpreter (reviews 113 to 118).
 * @module
 */

import { join } from "node:path";

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
