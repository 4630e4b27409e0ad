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
import { withRoom } from "../wire/mod.ts";
import { rethrowHostPermission } from "./exec.ts";

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
      // Grown by doubling up to the cap: a cap's worth of zeroes for each file cost a plan 0.75 ms.
      let buffer = new Uint8Array(4096);
      let length = 0;
      for (;;) {
        if (length === buffer.length) {
          if (length === MAX_FILE_BYTES) {
            // At the cap, unless the file ends there: a line the cap cut would name a folder
            // that is not there (reviews 34 and 35).
            if (f.readSync(new Uint8Array(1)) !== null) length = buffer.lastIndexOf(0x0a) + 1;
            break;
          }
          buffer = withRoom(buffer, length, length + 1, MAX_FILE_BYTES);
        }
        const count = f.readSync(buffer.subarray(length));
        if (count === null) break;
        length += count;
      }
      return new TextDecoder().decode(buffer.subarray(0, length));
    } finally {
      f.close();
    }
  } catch (error) {
    // A host whose Deno permissions do not reach the file must not read it as empty: a folder
    // it names would then be no code root, and a write grant over it would pass (review 33).
    rethrowHostPermission(error);
    return ""; // missing or unreadable: names nothing, as for ldconfig
  }
}

/** One element of a glob component: a literal character, `?`, `*`, or a bracket set. */
type GlobItem =
  | { kind: "char"; char: string }
  | { kind: "any" }
  | { kind: "star" }
  | { kind: "set"; negated: boolean; test: (char: string) => boolean };

const CLASSES: Record<string, RegExp> = {
  alnum: /[A-Za-z0-9]/,
  alpha: /[A-Za-z]/,
  blank: /[ \t]/,
  // deno-lint-ignore no-control-regex -- the class is control characters
  cntrl: /[\x00-\x1f\x7f]/,
  digit: /[0-9]/,
  graph: /[\x21-\x7e]/,
  lower: /[a-z]/,
  print: /[\x20-\x7e]/,
  punct: /[!-\/:-@[-`{-~]/,
  space: /[ \t\n\v\f\r]/,
  upper: /[A-Z]/,
  xdigit: /[0-9A-Fa-f]/,
};

/**
 * A bracket set starting at `component[at]` (the `[`), as fnmatch(3) reads
 * one: `!` or `^` negates, a `]` first is literal, ranges, `[:class:]`, `\`
 * escapes. Undefined where it never closes (the `[` is then literal).
 */
function bracketSet(component: string, at: number): { item: GlobItem; next: number } | undefined {
  let i = at + 1;
  const negated = component[i] === "!" || component[i] === "^";
  if (negated) i++;
  const tests: ((char: string) => boolean)[] = [];
  let first = true;
  while (i < component.length && (first || component[i] !== "]")) {
    first = false;
    if (component.startsWith("[:", i)) {
      const close = component.indexOf(":]", i + 2);
      const known = close === -1 ? undefined : CLASSES[component.slice(i + 2, close)];
      if (known) {
        tests.push((char) => known.test(char));
        i = close + 2;
        continue;
      }
    }
    let low = component[i];
    if (low === "\\" && i + 1 < component.length) low = component[++i];
    i++;
    if (component[i] === "-" && i + 1 < component.length && component[i + 1] !== "]") {
      let high = component[i + 1];
      i += 2;
      if (high === "\\" && i < component.length) high = component[i++];
      const from = low;
      tests.push((char) => char >= from && char <= high); // a range out of order matches nothing
    } else {
      const only = low;
      tests.push((char) => char === only);
    }
  }
  if (i >= component.length) return undefined;
  return {
    item: { kind: "set", negated, test: (char) => tests.some((t) => t(char)) },
    next: i + 1,
  };
}

function globItems(component: string): GlobItem[] {
  const items: GlobItem[] = [];
  for (let i = 0; i < component.length;) {
    const char = component[i];
    if (char === "*") items.push({ kind: "star" }), i++;
    else if (char === "?") items.push({ kind: "any" }), i++;
    else if (char === "[" && bracketSet(component, i)) {
      const set = bracketSet(component, i)!;
      items.push(set.item);
      i = set.next;
    } else if (char === "\\" && i + 1 < component.length) {
      items.push({ kind: "char", char: component[i + 1] });
      i += 2;
    } else items.push({ kind: "char", char }), i++;
  }
  return items;
}

/**
 * Whether `name` matches a glob component's items, as fnmatch(3) without
 * `FNM_PERIOD`'s exception: a leading `.` only by a literal one. One pass
 * that backs up to the last `*` only: time in the product of the lengths,
 * never exponential.
 */
export function globMatch(component: string, name: string): boolean {
  const items = globItems(component);
  if (name.startsWith(".") && !(items[0]?.kind === "char" && items[0].char === ".")) return false;
  let p = 0;
  let n = 0;
  let star = -1;
  let starAt = 0;
  while (n < name.length) {
    const item = items[p];
    if (item?.kind === "star") {
      star = p++;
      starAt = n;
      continue;
    }
    const one = item !== undefined && (
      item.kind === "any" ||
      (item.kind === "char" && item.char === name[n]) ||
      (item.kind === "set" && item.test(name[n]) !== item.negated)
    );
    if (one) {
      p++;
      n++;
    } else if (star !== -1) {
      p = star + 1;
      n = ++starAt;
    } else return false;
  }
  while (items[p]?.kind === "star") p++;
  return p === items.length;
}

/** `path` and `name` joined as glob(3) does: no `..` folded away. */
function under(path: string, name: string): string {
  return path.endsWith("/") ? path + name : `${path}/${name}`;
}

/** The existing paths `pattern` (absolute) matches, sorted as glob(3) sorts them. */
export function globPaths(pattern: string): string[] {
  let paths = ["/"];
  for (const component of pattern.split("/").filter(Boolean)) {
    const next: string[] = [];
    if (!/[*?[\\]/.test(component)) {
      for (const path of paths) next.push(under(path, component));
    } else {
      for (const path of paths) {
        try {
          const names = [...Deno.readDirSync(path)].map((entry) => entry.name).sort();
          for (const name of names) if (globMatch(component, name)) next.push(under(path, name));
        } catch (error) {
          rethrowHostPermission(error);
          // not a folder, or unreadable: it matches nothing
        }
      }
    }
    paths = next.sort().slice(0, MAX_FILES);
  }
  return paths.filter((path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch (error) {
      rethrowHostPermission(error);
      return false;
    }
  });
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
