/**
 * The plugin SDK as plugins load it: plugbox's `plugin.ts` and zod bundled
 * into a runner-owned cache, reached through an import map, so a plugin
 * needs neither network nor npm at start (THREATS T3, T4).
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCaptured } from "./exec.ts";

/** Paths of a built SDK in the cache. */
export interface SdkFiles {
  /** Folder holding every SDK file (mounted read-only under the OS layer). */
  dir: string;
  /** The import map passed with `--import-map`. */
  importMap: string;
  /** The script passed with `--preload`. */
  preload: string;
}

// Runs before the plugin's main module. Anything printed before serve() must
// not land on stdout, which is the protocol channel. And an ArrayBuffer the
// memory limit refused, left uncaught, would end the process with code 1, a
// plain exit to the host: the process is ended by running out of memory
// instead, for real (what is left of the limit is reserved, then the V8
// heap is filled), so V8 aborts with a signal the host can trust, in its own
// words. A plugin that throws that error itself gains only a real OOM death.
const PRELOAD = `console.log = console.error;
console.info = console.error;
console.debug = console.error;
{
  const refused = RangeError;
  const outOfMemory = (error) => {
    if (!(error instanceof refused) || error.message !== "Array buffer allocation failed") return;
    console.error("plugbox: Array buffer allocation failed: ending the process as out of memory");
    const hold = [];
    try {
      for (let i = 0; i < 64; i++) hold.push(new ArrayBuffer(1 << 24));
    } catch {
      // the limit is reached
    }
    for (;;) hold.push(new Array(1 << 24).fill(hold.length));
  };
  globalThis.addEventListener("error", (event) => outOfMemory(event.error));
  globalThis.addEventListener("unhandledrejection", (event) => outOfMemory(event.reason));
}
`;

/** Bare specifiers a plugin may use for the SDK and zod; all map into the bundle. */
const SDK_SPECIFIERS = [
  "@plugbox/plugbox/plugin",
  "@plugbox/plugbox/contract",
  "jsr:@plugbox/plugbox/plugin",
  "jsr:@plugbox/plugbox/contract",
];
const ZOD_SPECIFIERS = ["zod", "zod/v4", "npm:zod", "npm:zod@4", "npm:zod@^4"];

const packageRoot = new URL("../../", import.meta.url);
const ZOD_ENTRY = "runner/sandbox/_zod.ts";

/** Key of the SDK build: Deno version plus the text of every source it is built from. */
async function sdkKey(): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`deno ${Deno.version.deno}\0`);
  if (packageRoot.protocol !== "file:") {
    hash.update(packageRoot.href); // a published version never changes
  } else {
    const root = fileURLToPath(packageRoot);
    // What the bundles are built from: the plugin entry and the rooms it may import.
    const files = [
      "deno.json",
      "plugin.ts",
      "contract.ts",
      "runner/contract.ts",
      "runner/sandbox/sdk.ts", // the preload's text
      ZOD_ENTRY,
    ];
    for (const room of ["runner/plugin", "runner/wire"]) {
      for (const entry of Deno.readDirSync(join(root, room))) {
        if (entry.isFile && entry.name.endsWith(".ts")) files.push(`${room}/${entry.name}`);
      }
    }
    for (const file of files.sort()) {
      hash.update(`${file}\0`).update(await Deno.readFile(join(root, file)).catch(() => ""));
    }
  }
  return hash.digest("hex").slice(0, 24);
}

async function bundle(deno: string, entry: URL, out: string, external: string[]): Promise<void> {
  const args = ["bundle", "--quiet", "--platform", "deno", "--minify", "--output", out];
  for (const name of external) args.push(`--external=${name}`); // "=": the flag takes many values
  args.push(entry.href);
  // From the package's own folder, so its deno.json maps "zod".
  const cwd = packageRoot.protocol === "file:" ? fileURLToPath(packageRoot) : undefined;
  const result = await runCaptured(deno, args, { timeoutMs: 120_000, cwd });
  if (!result.success) {
    throw new Error(
      `Cannot build the plugin SDK: "deno bundle ${entry.href}" failed: ${result.stderr}`,
    );
  }
}

async function build(deno: string, dir: string): Promise<void> {
  await bundle(deno, new URL(ZOD_ENTRY, packageRoot), join(dir, "zod.js"), []);
  await bundle(deno, new URL("plugin.ts", packageRoot), join(dir, "plugin.js"), ["zod"]);
  await Deno.writeTextFile(join(dir, "preload.js"), PRELOAD);
  const imports: Record<string, string> = {};
  // Relative, so the map stays right when the build folder is renamed into place.
  const url = (file: string) => `./${file}`;
  for (const s of SDK_SPECIFIERS) imports[s] = url("plugin.js");
  for (const s of ZOD_SPECIFIERS) imports[s] = url("zod.js");
  await Deno.writeTextFile(join(dir, "import_map.json"), JSON.stringify({ imports }, null, 2));
  for (const name of ["zod.js", "plugin.js", "preload.js", "import_map.json"]) {
    await Deno.chmod(join(dir, name), 0o444);
  }
}

const memo = new Map<string, Promise<SdkFiles>>();

/**
 * Returns the SDK bundle for this plugbox and Deno version, building it into
 * `<cacheDir>/sdk/<key>` on first use. Concurrent hosts build in private
 * folders and the first rename wins.
 */
export function ensureSdk(cacheDir: string, deno: string): Promise<SdkFiles> {
  let found = memo.get(cacheDir);
  if (!found) {
    found = locate(cacheDir, deno);
    found.catch(() => memo.delete(cacheDir));
    memo.set(cacheDir, found);
  }
  return found;
}

async function locate(cacheDir: string, deno: string): Promise<SdkFiles> {
  const dir = join(cacheDir, "sdk", await sdkKey());
  const files = {
    dir,
    importMap: join(dir, "import_map.json"),
    preload: join(dir, "preload.js"),
  };
  try {
    await Deno.stat(files.importMap);
    return files;
  } catch {
    // not built yet
  }
  await Deno.mkdir(join(cacheDir, "sdk"), { recursive: true });
  const temp = await Deno.makeTempDir({ dir: join(cacheDir, "sdk"), prefix: ".build-" });
  try {
    await build(deno, temp);
    await Deno.rename(temp, dir).catch(async (error) => {
      if (!(await Deno.stat(files.importMap).then(() => true, () => false))) throw error;
    });
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
  return files;
}
