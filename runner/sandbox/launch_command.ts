/**
 * The launch of a command plugin (a plugin in another language): its
 * program under the OS layer only, with the same snapshot, grants-derived
 * mounts, memory limit and death with the host as a Deno plugin, and only
 * the program and what it loads mounted besides.
 * @module
 */

import type { CommandRuntime } from "./command.ts";
import {
  baseEnv,
  type Launch,
  marksExec,
  type Prepared,
  startExtras,
  waitsForGo,
  wrapperFor,
} from "./launch_deno.ts";
import { NONCE_FLAG } from "../wire/mod.ts";

/** Builds a command plugin's command line; there is no module graph to check. */
export async function commandLaunch(
  p: Prepared,
  runtime: CommandRuntime,
  nonce: string,
): Promise<Launch> {
  const { snapshot, grants } = p;
  const { HOME, NO_COLOR, PWD } = baseEnv(p);
  const extras = await startExtras(p, nonce);
  const env = { ...grants.env, ...extras.egress?.env, HOME, NO_COLOR, PWD };
  // Writable memory is capped at the limit itself: no Deno reservations to allow for.
  const prefix = await wrapperFor(p, p.memory, 0, {
    ...extras,
    envNames: Object.keys(env),
    waitsForGo: waitsForGo(p),
    marksExec: true,
  })({
    programs: runtime.programs,
    runtime: runtime.runtime,
    hidden: runtime.hidden,
    readOnly: [snapshot.dir, p.home, ...grants.read],
    readWrite: [...grants.write],
    net: false,
    dev: true,
    tmpBytes: 64 * 1024 * 1024,
    cwd: snapshot.dir,
  });
  const [command, ...wrapperArgs] = [...prefix, ...runtime.argv];
  return {
    command,
    args: [...wrapperArgs, `${NONCE_FLAG}=${nonce}`],
    env,
    // No module graph: the view a verdict holds in is none.
    graph: { modules: 0, files: [], bytes: 0, sdkModules: 0, builtins: [], view: "" },
    egress: extras.egress,
    cpu: extras.cpu!,
    waitsForGo: waitsForGo(p),
    marksExec: marksExec(p, extras),
  };
}
