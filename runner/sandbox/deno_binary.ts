/**
 * Which Deno binary plugins run with. Usually the host's own
 * (`Deno.execPath()`); but a host made with `deno compile` is its own
 * binary, not Deno, so there plugbox looks for `deno` on PATH. The host may
 * name one instead: the `deno` option, `PLUGBOX_DENO`, or `plug --deno=`.
 * @module
 */

import { isAbsolute } from "node:path";
import { rethrowHostPermission, runCaptured } from "./exec.ts";
import { onHostPath } from "./host_path.ts";
import { canonicalPath } from "./paths.ts";

/** A Deno binary that answered `--version`. */
export interface DenoBinary {
  /** Its real path. */
  path: string;
  /** Its version, as `--version` printed it (`2.9.6`). */
  version: string;
}

/** What the choice depends on, passed in so the choice can be tested. */
export interface DenoSearch {
  /** The `deno` option, if given. */
  option?: string;
  /** `PLUGBOX_DENO`, if set. */
  env?: string;
  /** The host's executable. */
  execPath: string;
  /** True when the host is a `deno compile`d binary. */
  standalone: boolean;
  /** The host's PATH. */
  path?: string;
}

/** The host's own view: option, environment, executable, PATH. */
export function hostSearch(option: string | undefined): DenoSearch {
  return {
    option,
    env: Deno.env.get("PLUGBOX_DENO") || undefined,
    execPath: Deno.execPath(),
    standalone: Deno.build.standalone,
    path: Deno.env.get("PATH"),
  };
}

const HOW_TO_NAME =
  `name the Deno binary plugins run with: the "deno" option, the PLUGBOX_DENO variable, or plug --deno=PATH`;

/**
 * The path to use, before it is checked: an explicit choice wins, then the
 * host itself unless it is a compiled binary, then `deno` on PATH.
 *
 * @throws {TypeError} when nothing is named and a compiled host finds no `deno`.
 */
export function chooseDeno(search: DenoSearch): { path: string; source: string } {
  if (search.option !== undefined) return { path: search.option, source: `the "deno" option` };
  if (search.env !== undefined) return { path: search.env, source: "PLUGBOX_DENO" };
  if (!search.standalone) return { path: search.execPath, source: "the host's own Deno" };
  const found = onHostPath("deno", search.path ?? "");
  if (found) return { path: found, source: `"deno" on PATH (this host is a compiled binary)` };
  throw new TypeError(
    `Cannot start plugin: plugins run with Deno, and this host ("${search.execPath}") is a deno compile'd binary, not Deno; no "deno" was found on PATH. Install Deno, or ${HOW_TO_NAME}`,
  );
}

const checked = new Map<string, Promise<DenoBinary>>();

async function probe(path: string, source: string): Promise<DenoBinary> {
  const fail = (why: string): never => {
    throw new TypeError(
      `Cannot start plugin: the Deno binary "${path}" (from ${source}) ${why}; ${HOW_TO_NAME}`,
    );
  };
  if (!isAbsolute(path)) fail("must be an absolute path");
  let real = path;
  try {
    real = canonicalPath(path);
    const info = Deno.statSync(real);
    if (!info.isFile || !((info.mode ?? 0o111) & 0o111)) fail("is not an executable file");
  } catch (error) {
    rethrowHostPermission(error);
    if (error instanceof TypeError) throw error;
    fail(`cannot be used: ${(error as Error).message}`);
  }
  const result = await runCaptured(real, ["--version"], {
    timeoutMs: 15_000,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    maxStdoutBytes: 4096,
  }).catch((error) => {
    rethrowHostPermission(error);
    return fail(`cannot be run: ${error}`);
  });
  const version = /^deno (\d+\.\d+\.\d+\S*)/.exec(result.stdout)?.[1];
  if (!result.success || !version) {
    fail(`did not answer --version as Deno does (it printed "${result.stdout.slice(0, 80)}")`);
  }
  return { path: real, version: version! };
}

/**
 * Finds and checks the Deno binary plugins run with. The host's own Deno is
 * taken as it is; any other is asked for `--version` once per process.
 *
 * @throws {TypeError} naming the binary, where it came from, and how to name another.
 */
export async function resolveDeno(search: DenoSearch): Promise<DenoBinary> {
  const { path, source } = chooseDeno(search);
  if (search.standalone && path === search.execPath) {
    throw new TypeError(
      `Cannot start plugin: the Deno binary "${path}" (from ${source}) is this host itself, a deno compile'd program, not Deno; ${HOW_TO_NAME}`,
    );
  }
  if (!search.standalone && path === search.execPath) {
    return { path: canonicalPath(path), version: Deno.version.deno };
  }
  let found = checked.get(path);
  if (!found) {
    found = probe(path, source);
    found.catch(() => checked.delete(path));
    checked.set(path, found);
  }
  return await found;
}
