/**
 * Which environment variables a plugin may be granted: only names that the
 * Deno runtime, V8 and the libraries Deno loads do not read themselves
 * (THREATS T6, T16). The list of names Deno reads keeps growing (2.9.6 reads
 * more than a hundred `DENO_*` names, and `OTEL_*`, `SOCKET_API_KEY`,
 * `ACTIONS_ID_TOKEN_REQUEST_URL`, ...), so plugbox does not keep one: it
 * asks the files themselves. A name is grantable only when it is spelled
 * as an upper-case identifier and no byte sequence in the Deno binary or a
 * library it loads contains it. A variable a newer Deno reads is named in
 * its binary, so a Deno upgrade can narrow what a plugin gets, never widen it.
 * A command plugin's runtime is its program (an interpreter): the same is
 * asked of that program and the libraries it loads (`PYTHONPATH` is named
 * in Python's binary, so it is refused).
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";

/** The only spelling of a grantable name: upper case, digits and `_`. */
export const GRANTABLE_ENV_NAME: RegExp = /^[A-Z][A-Z0-9_]{0,127}$/;

/**
 * The names a set of files could read, as far as their bytes tell: every
 * maximal run of `[A-Z0-9_]` in them. A grantable name occurs in a file
 * exactly when it is a substring of one of these runs.
 */
export interface RuntimeNames {
  /** The first file that mentions `name`, or undefined when none does. */
  mentionedBy(name: string): string | undefined;
  /** The files searched (real paths). */
  readonly files: readonly string[];
  /** What runs the plugin, for messages: `Deno`, or a command plugin's program. */
  readonly runtime: string;
  /** What reads the names `file` mentions, for messages, when not {@linkcode runtime}. */
  runtimeOf?(file: string): string;
}

/** Runs of upper-case identifier bytes per file identity, kept for the process. */
const indexes = new Map<string, string>();

function identity(path: string): { path: string; key: string } | undefined {
  try {
    const real = Deno.realPathSync(path);
    const info = Deno.statSync(real);
    const key = createHash("sha256")
      .update(`${real}\0${info.size}\0${info.mtime?.getTime()}\0${info.ino}\0${info.dev}`)
      .digest("hex").slice(0, 32);
    return { path: real, key };
  } catch {
    return undefined;
  }
}

/** Every maximal run of `[A-Z0-9_]` of two or more bytes, one per line. */
export function identifierRuns(bytes: Uint8Array): string {
  const runs = new Set<string>();
  const decoder = new TextDecoder("latin1");
  let start = -1;
  for (let i = 0; i <= bytes.length; i++) {
    const c = i < bytes.length ? bytes[i] : 0;
    if ((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= 2) runs.add(decoder.decode(bytes.subarray(start, i)));
      start = -1;
    }
  }
  return [...runs].join("\n");
}

function indexOf(file: { path: string; key: string }, storeDir: string | undefined): string {
  let runs = indexes.get(file.key);
  if (runs !== undefined) return runs;
  const stored = storeDir ? join(storeDir, `${file.key}.txt`) : undefined;
  try {
    if (stored) runs = Deno.readTextFileSync(stored);
  } catch {
    // not indexed yet
  }
  if (runs === undefined) {
    runs = identifierRuns(Deno.readFileSync(file.path));
    if (stored) {
      try {
        Deno.mkdirSync(storeDir!, { recursive: true });
        const temp = `${stored}.${crypto.randomUUID()}`;
        Deno.writeTextFileSync(temp, runs);
        Deno.renameSync(temp, stored);
      } catch {
        // a cache that cannot be written costs a rescan next time, nothing else
      }
    }
  }
  indexes.set(file.key, runs);
  return runs;
}

/**
 * Indexes `files` (the Deno binary and the libraries it loads, or a
 * command plugin's programs and theirs: `runtime` names which, for
 * messages) for the names they mention. Each file is scanned once per identity (path, size,
 * mtime, inode), so a replaced binary is scanned again; with `storeDir`
 * the index is kept on disk too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runtimeNames } from "./env_names.ts";
 * const names = runtimeNames([Deno.execPath()]);
 * assert.ok(names.mentionedBy("DENO_DIR") !== undefined);
 * ```
 */
export function runtimeNames(
  files: readonly string[],
  storeDir?: string,
  runtime = "Deno",
): RuntimeNames {
  const ids = files.map(identity).filter((id) => id !== undefined);
  return {
    runtime,
    files: ids.map((id) => id.path),
    mentionedBy(name: string): string | undefined {
      return ids.find((id) => indexOf(id, storeDir).includes(name))?.path;
    },
  };
}

/**
 * Both sets of names, `first`'s asked first: a name either mentions is
 * refused, and the message names the runtime whose file mentions it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alsoRead, refuseEnvName, runtimeNames } from "./env_names.ts";
 * const names = alsoRead(runtimeNames([]), runtimeNames([Deno.execPath()], undefined, "its sh"));
 * assert.match(refuseEnvName("DENO_DIR", names)!, /^is a name its sh may read itself/);
 * ```
 */
export function alsoRead(first: RuntimeNames, second: RuntimeNames): RuntimeNames {
  const seconds = new Set(second.files);
  return {
    runtime: first.runtime,
    files: [...first.files, ...second.files],
    mentionedBy: (name) => first.mentionedBy(name) ?? second.mentionedBy(name),
    runtimeOf: (file) =>
      first.files.includes(file) || !seconds.has(file)
        ? first.runtimeOf?.(file) ?? first.runtime
        : second.runtimeOf?.(file) ?? second.runtime,
  };
}

/**
 * The Deno binary and the shared libraries this process has loaded (from
 * /proc/self/maps, where there is one): the files a plugin's Deno, the same
 * binary, loads too.
 */
export function ownRuntimeFiles(): string[] {
  const files = new Set([Deno.execPath()]);
  try {
    for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
      const path = line.slice(line.indexOf("/"));
      if (line.includes("/") && /\.so(\.[\d.]+)?$/.test(path)) files.add(path);
    }
  } catch {
    // no /proc here: the binary alone
  }
  return [...files];
}

/**
 * Why `name` cannot be granted, or undefined when it can: it must be an
 * upper-case identifier that neither Deno nor a library it loads mentions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseEnvName, runtimeNames } from "./env_names.ts";
 * const names = runtimeNames([Deno.execPath()]);
 * assert.match(refuseEnvName("DENO_CERT", names)!, /mentions it/);
 * assert.equal(refuseEnvName("PLUGBOX_EXAMPLE_SETTING", names), undefined);
 * ```
 */
export function refuseEnvName(name: string, names: RuntimeNames): string | undefined {
  if (!GRANTABLE_ENV_NAME.test(name)) {
    return "must be upper-case letters, digits and _, starting with a letter (at most 128)";
  }
  const file = names.mentionedBy(name);
  if (file === undefined) {
    // Whatever reads it (an interpreter's library code, not its binary, may), a proxy setting
    // steers egress: plugbox sets the proxy variables itself (THREATS T25).
    if (!name.includes("PROXY")) return undefined;
    return "is a proxy setting, which could steer the plugin's network traffic: plugbox sets " +
      "the proxy variables itself under the OS layers, and grants no name with PROXY in it";
  }
  const who = names.runtimeOf?.(file) ?? names.runtime;
  return `is a name ${who} may read itself: "${file}" mentions it, and plugbox grants ` +
    `only names that neither ${who} nor a library it loads mentions (pick a more ` +
    "specific name)";
}
