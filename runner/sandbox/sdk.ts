/**
 * The plugin SDK as plugins load it: plugbox's `plugin.ts` and one copy of
 * zod, prebuilt into `_sdk_bundle.ts` (by `deno task sdk`) and written into
 * a runner-owned cache, reached through an import map. A plugin start never
 * bundles, downloads or reads plugbox's own files: the text comes with the
 * module, from wherever plugbox was installed (a path, `https:`, JSR, a
 * `deno compile`d binary), and the plugin needs neither network nor npm
 * (THREATS T3, T4).
 * @module
 */

import { join } from "node:path";
import { publishFiles } from "./publish.ts";
import { PLUGBOX_VERSION, PLUGIN_JS, ZOD_JS, ZOD_SPECIFIER, ZOD_VERSION } from "./_sdk_bundle.ts";

/** Paths of a written SDK in the cache. */
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
// The text is one of the SDK's files, so it is part of the folder's key.
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

const [MAJOR, MINOR] = PLUGBOX_VERSION.split(".");
const PLUGBOX_VERSIONS = ["", `@${PLUGBOX_VERSION}`, `@^${PLUGBOX_VERSION}`, `@${MAJOR}.${MINOR}`];
PLUGBOX_VERSIONS.push(`@^${MAJOR}.${MINOR}`);

/**
 * Specifiers a plugin may use for the SDK; all map into the bundle. Besides
 * the package names, the URLs of this very install's entry files (a path,
 * an `https:` root, JSR's files), so a contract shared with a host that
 * imports plugbox by URL loads in the plugin too.
 */
export const SDK_SPECIFIERS: readonly string[] = [
  "@plugbox/plugbox/plugin",
  "@plugbox/plugbox/contract",
  ...PLUGBOX_VERSIONS.flatMap((v) => [
    `jsr:@plugbox/plugbox${v}/plugin`,
    `jsr:@plugbox/plugbox${v}/contract`,
  ]),
  new URL("../../plugin.ts", import.meta.url).href,
  new URL("../../contract.ts", import.meta.url).href,
];

/** Specifiers a plugin may use for zod; all map to the bundle's one copy. */
export const ZOD_SPECIFIERS: readonly string[] = [
  "zod",
  "zod/v4",
  "npm:zod",
  "npm:zod@4",
  "npm:zod@^4",
  `npm:zod@${ZOD_VERSION}`,
  `npm:zod@^${ZOD_VERSION}`,
  ZOD_SPECIFIER,
];

function importMap(): string {
  const imports: Record<string, string> = {};
  // Relative, so the map stays right when the build folder is renamed into place.
  for (const s of SDK_SPECIFIERS) imports[s] = "./plugin.js";
  for (const s of ZOD_SPECIFIERS) imports[s] = "./zod.js";
  return JSON.stringify({ imports }, null, 2);
}

/** Every file of the SDK folder, by name. */
function sdkFiles(): Record<string, string> {
  return {
    "plugin.js": PLUGIN_JS,
    "zod.js": ZOD_JS,
    "preload.js": PRELOAD,
    "import_map.json": importMap(),
  };
}

const memo = new Map<string, Promise<SdkFiles>>();

/**
 * Returns the SDK folder in `<cacheDir>/sdk/<key>`, writing it on first use
 * (checked once per process against the bundled text). Concurrent hosts
 * write private folders and the first rename wins.
 */
export function ensureSdk(cacheDir: string): Promise<SdkFiles> {
  let found = memo.get(cacheDir);
  if (!found) {
    found = locate(cacheDir);
    found.catch(() => memo.delete(cacheDir));
    memo.set(cacheDir, found);
  }
  return found;
}

async function locate(cacheDir: string): Promise<SdkFiles> {
  const dir = await publishFiles(join(cacheDir, "sdk"), sdkFiles());
  return { dir, importMap: join(dir, "import_map.json"), preload: join(dir, "preload.js") };
}
