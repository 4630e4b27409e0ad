/**
 * The library folders the dynamic loader's configuration names, read as
 * `ldconfig` reads `/etc/ld.so.conf`: a folder per line, comments from `#`
 * cut, `include` lines expanded (several glob patterns each, a relative
 * one from the including file's folder, nested). Every program on the
 * machine loads from these folders, so they count as code (a write grant
 * over one is refused) and a granted program gets them read-only.
 *
 * Reading is bounded, as anything read from a folder should be: at most
 * {@linkcode MAX_FILES} files of {@linkcode MAX_FILE_BYTES} each, include
 * loops ignored.
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";

/** The most configuration files read, includes counted. */
export const MAX_FILES = 256;
/** The most bytes read of one configuration file. */
export const MAX_FILE_BYTES = 1024 * 1024;

function readBounded(file: string): string {
  try {
    // A regular file only: opening a FIFO an include names would wait for a writer forever.
    if (!Deno.statSync(file).isFile) return "";
    const f = Deno.openSync(file);
    try {
      const buffer = new Uint8Array(MAX_FILE_BYTES);
      let length = 0;
      while (length < buffer.length) {
        const count = f.readSync(buffer.subarray(length));
        if (count === null) break;
        length += count;
      }
      return new TextDecoder().decode(buffer.subarray(0, length));
    } finally {
      f.close();
    }
  } catch {
    return ""; // missing or unreadable: names nothing, as for ldconfig
  }
}

/** A glob component as a regular expression (`*`, `?` and `[...]`; no leading dot matched). */
function componentPattern(component: string): RegExp {
  let source = "";
  for (let i = 0; i < component.length; i++) {
    const c = component[i];
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = component.indexOf("]", i + 2);
      if (end === -1) source += "\\[";
      else {
        const body = component.slice(i + 1, end);
        const negated = body[0] === "!" || body[0] === "^";
        const chars = (negated ? body.slice(1) : body).replace(/[\\\]^]/g, "\\$&");
        source += `[${negated ? "^" : ""}${chars}]`;
        i = end;
      }
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^(?!\\.)${source}$`);
}

/** The existing paths `pattern` (absolute) matches, sorted as glob(3) sorts them. */
export function globPaths(pattern: string): string[] {
  let paths = ["/"];
  for (const component of pattern.split("/").filter(Boolean)) {
    const next: string[] = [];
    if (!/[*?[]/.test(component)) {
      for (const path of paths) next.push(join(path, component));
    } else {
      const match = componentPattern(component);
      for (const path of paths) {
        try {
          for (const entry of Deno.readDirSync(path)) {
            if (match.test(entry.name)) next.push(join(path, entry.name));
          }
        } catch {
          // not a folder, or unreadable: it matches nothing
        }
      }
    }
    paths = next;
    if (paths.length > MAX_FILES) paths = paths.slice(0, MAX_FILES);
  }
  return paths.filter((path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  }).sort();
}

/**
 * The absolute library folders `conf` (and what it includes) names, in
 * order, each once. A relative folder is left out: `ldconfig` warns of one
 * and takes it from wherever it runs, which nothing here can know.
 *
 * @example
 * ```ts ignore
 * configuredLibraries(); // ["/usr/local/lib", "/lib/x86_64-linux-gnu", ...]
 * ```
 */
export function configuredLibraries(conf = "/etc/ld.so.conf"): string[] {
  const folders = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || seen.size >= MAX_FILES) return; // an include loop, or too many files
    seen.add(file);
    for (const raw of readBounded(file).split("\n")) {
      const line = raw.split("#")[0].trim(); // ldconfig's comments run to the line's end
      if (line === "") continue;
      const include = /^include[ \t]+(.*)$/.exec(line);
      if (include) {
        for (const pattern of include[1].split(/[ \t]+/).filter(Boolean)) {
          const absolute = isAbsolute(pattern) ? pattern : join(dirname(file), pattern);
          for (const included of globPaths(absolute)) visit(included);
        }
        continue;
      }
      if (/^hwcap[ \t]/.test(line)) continue; // a capability, not a folder
      // "folder=TYPE" names a library type (older ldconfig); trailing slashes are dropped.
      let folder = line.split("=")[0].trim();
      while (folder.length > 1 && folder.endsWith("/")) folder = folder.slice(0, -1);
      if (isAbsolute(folder)) folders.add(folder);
    }
  };
  visit(conf);
  return [...folders];
}
