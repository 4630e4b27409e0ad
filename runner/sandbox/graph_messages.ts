/**
 * The words of a module-graph refusal: paths as the user sees them (their
 * own folder, not plugbox's snapshot of it) and what to do instead of an
 * import a plugin may not make.
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ZOD_VERSION } from "./_sdk_bundle.ts";
import type { GraphCheck, ImportSite } from "./preflight.ts";
import { isWithin } from "./paths.ts";

/**
 * The path of a `file:` specifier, or undefined where it names none: an
 * encoded "/" or a host other than localhost, which a plugin's import can
 * spell and `fileURLToPath` throws a bare `TypeError` for (review 41).
 */
export function filePathOf(specifier: string): string | undefined {
  try {
    return fileURLToPath(specifier);
  } catch {
    return undefined;
  }
}

/** Names a file for a message: its path in the plugin's own folder, not the snapshot. */
export function displayPath(check: GraphCheck, specifier: string | undefined): string | undefined {
  if (!specifier?.startsWith("file:")) return specifier;
  const path = filePathOf(specifier);
  if (path === undefined) return specifier;
  return isWithin(path, check.snapshot) ? join(check.root, relative(check.snapshot, path)) : path;
}

/** Text from `deno info` with every snapshot path shown as the user's own. */
export function userText(check: GraphCheck, text: string): string {
  return text
    .replaceAll(pathToFileURL(check.snapshot).href, pathToFileURL(check.root).href)
    .replaceAll(check.snapshot, check.root);
}

/**
 * Where an import outside the folder points, as the user wrote it: a
 * relative import resolves from the user's file (not from the snapshot,
 * whose neighbours are plugbox's cache).
 */
export function outsideTarget(
  check: GraphCheck,
  site: ImportSite | undefined,
  real: string,
): string {
  const written = site?.written ?? "";
  const importer = displayPath(check, site?.importer);
  if (/^\.\.?\//.test(written) && importer && isAbsolute(importer)) {
    return resolve(dirname(importer), written);
  }
  return real;
}

/** The package name in a registry specifier, for a vendoring command. */
function packageName(specifier: string): string {
  const bare = specifier.replace(/^(npm|jsr):\/?/, "").replace(/^https?:\/\/[^/]+\//, "");
  const name = bare.replace(/^@[^/]+\//, "").split(/[@/?#]/)[0] || "module";
  return name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
}

/** How to use a package a plugin may not import: the bundled names, or vendoring it. */
export function remoteHint(specifier: string): string {
  if (/^npm:zod(@|$|\/)/.test(specifier)) {
    return `; import zod as "zod" (plugbox maps it, "npm:zod@^4" and "zod/v4" to its bundled zod ${ZOD_VERSION})`;
  }
  if (specifier.startsWith("jsr:@plugbox/plugbox")) {
    return `; import "@plugbox/plugbox/plugin" or "@plugbox/plugbox/contract" (plugbox maps them to its bundled SDK)`;
  }
  const name = packageName(specifier);
  return `; to use it, vendor it into the plugin's folder: deno bundle --platform=deno --output=vendor/${name}.js ${specifier} (run in the plugin's folder), then import "./vendor/${name}.js"`;
}
