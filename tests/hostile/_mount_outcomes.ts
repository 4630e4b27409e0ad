/**
 * The mount tests' hosts (reviews 137, 139, 141): a host run under bubblewrap with `/` as it is and
 * second mounts of folders on top, in a mount namespace of its own (nothing machine-wide changes),
 * saying what it granted.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { noInheritedDescriptors } from "../_helpers.ts";
import { tempFolder } from "./_python_shim.ts";

const repo = new URL("../../", import.meta.url).pathname;
const MOUNT_HOST = new URL("./_r139_mount_host.ts", import.meta.url).pathname;

/**
 * Runs `host` (a host's argv) with each of `binds` (a folder, and the second path it is mounted
 * at) and returns the JSON it prints.
 */
export async function underBinds(
  binds: readonly [string, string][],
  host: readonly string[],
): Promise<Record<string, string>> {
  const argv = noInheritedDescriptors([
    ...["bwrap", "--dev-bind", "/", "/", ...binds.flatMap(([from, to]) => ["--bind", from, to])],
    ...["--", ...host],
  ]);
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  return JSON.parse(decoder.decode(out.stdout));
}

/**
 * What _r139_mount_host.ts says of write grants of second mounts of the cache's `snapshots` (a1)
 * and plugin b's `data` (a2), both below code, of a folder apart (a3) and of the code folder
 * itself (a4): the host run by `deno run` with the permission flags `flags(base)`, `base` the
 * test's own folder.
 */
export async function mountOutcomes(
  flags: (base: string) => string[],
): Promise<Record<string, string>> {
  await using base = await tempFolder("plugbox-mounts-");
  const [code, other] = ["code", "other"].map((name) => join(base.path, name));
  const sources = [
    join(code, "cache", "plugbox", "snapshots"),
    join(code, "projects", "b", "data"),
    join(base.path, "apart"),
    code,
  ];
  const aliases = ["a1", "a2", "a3", "a4"].map((name) => join(base.path, name));
  for (const dir of [...sources, ...aliases, other]) await Deno.mkdir(dir, { recursive: true });
  for (const folder of [join(code, "projects", "b"), other]) {
    for (const name of ["main.ts", "contract.ts"]) {
      await Deno.copyFile(join(repo, "plugins/hello", name), join(folder, name));
    }
  }
  const host = [
    ...[Deno.execPath(), "run", ...flags(base.path), "--config", join(repo, "deno.json")],
    ...[MOUNT_HOST, JSON.stringify({ code, other }), JSON.stringify(aliases)],
  ];
  return await underBinds(sources.map((source, i) => [source, aliases[i]]), host);
}

/**
 * What {@linkcode mountOutcomes} must say when the second mounts are judged: the write grants of
 * a1 (the cache's snapshots) and a2 (plugin b's data) refused as the code they lie below, a3 (a
 * folder apart) granted.
 */
export function assertBelowCodeJudged(results: Record<string, string>): void {
  assert.match(
    results.snapshots,
    /^Cannot grant write ".*\/a1": it overlaps ".*\/code\/cache\/plugbox" \(one folder, at both paths\), which holds code/,
  );
  assert.match(
    results.ownData,
    /^Cannot grant write ".*\/a2": it overlaps ".*\/code\/projects\/b" \(one folder, at both paths\), which holds code/,
  );
  assert.equal(results.apart, "granted");
}
