/**
 * The module-graph check, cached by everything that decided it (THREATS
 * T14): the snapshot's content and entry, the isolation and the exact
 * wrapper the check ran under (its mounts, limits and namespaces, which are
 * the run's own), the environment, the Deno binary (by path, size, time and
 * inode) and its version, and the SDK. A verdict is reused only where all
 * of these are the same, so a graph approved in one view, or for other
 * grants, is checked again in another.
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { checkGraph, type GraphSummary } from "./preflight.ts";
import { HOST_CHECK } from "./layers.ts";
import type { IsolationLayer } from "./isolation.ts";
import type { SdkFiles } from "./sdk.ts";
import type { Snapshot } from "./snapshot.ts";

const verified = new Map<string, GraphSummary>();

/** What the module-graph check of one start needs. */
export interface PreflightRun {
  name: string;
  root: string;
  deno: string;
  /** Its version: a graph checked by one Deno is checked again by another. */
  denoVersion: string;
  snapshot: Snapshot;
  sdk: SdkFiles;
  isolation: IsolationLayer;
  /** The wrapper `deno info` runs under: the run's own view and flags. */
  prefix: string[];
  env: Record<string, string>;
  cacheDir: string;
  timeoutMs: number;
  /**
   * The plugin's own folders (its Deno dir, its home): the same in every
   * plugin's view but for their names, and outside every allowed root, so
   * the key counts them by role, not by path: a new plugin name with known
   * content reuses the verdict.
   */
  ownDirs?: string[];
  /**
   * The start's: the check is this start's own work (two starts of one
   * plugin each run theirs), so an abort kills it; no verdict is kept.
   */
  signal?: AbortSignal;
}

function binaryId(path: string): string {
  const info = Deno.statSync(path);
  return `${path}\0${info.size}\0${info.mtime?.getTime()}\0${info.ino}`;
}

/** The key of a verdict: a hash of everything that decided it. */
export function verdictKey(run: PreflightRun): string {
  const own = (text: string) =>
    (run.ownDirs ?? []).reduce((t, dir, i) => t.split(dir).join(`\0own-dir-${i}\0`), text);
  const decided = {
    snapshot: run.snapshot.hash,
    entry: run.snapshot.entry,
    isolation: run.isolation,
    // The host check's pid differs in every host process and decides nothing about the graph.
    prefix: run.prefix.map((arg, i) =>
      run.prefix[i - 2] === HOST_CHECK ? "\0host-pid\0" : own(arg)
    ),
    env: Object.entries(run.env).sort().map(([name, value]) => [name, own(value)]),
    deno: binaryId(run.deno),
    version: run.denoVersion,
    sdk: run.sdk.dir,
  };
  return createHash("sha256").update(JSON.stringify(decided)).digest("hex");
}

/** Runs the module-graph check unless this exact check already passed. */
export async function verifyGraph(run: PreflightRun): Promise<GraphSummary> {
  const { snapshot, sdk } = run;
  const key = verdictKey(run);
  // Named for its snapshot too: a snapshot's removal removes its verdicts (snapshot_prune.ts).
  const marker = join(run.cacheDir, "verified", `${basename(snapshot.dir)}-${key}`);
  const known = verified.get(key) ??
    await Deno.readTextFile(marker).then((text) => JSON.parse(text) as GraphSummary).catch(() =>
      undefined
    );
  if (known?.view === key) {
    verified.set(key, known);
    return known;
  }
  const summary = await checkGraph({
    plugin: run.name,
    prefix: run.prefix,
    deno: run.deno,
    entry: snapshot.entry,
    snapshot: snapshot.dir,
    root: run.root,
    allowedRoots: [snapshot.dir, sdk.dir],
    importMap: sdk.importMap,
    env: run.env,
    timeoutMs: run.timeoutMs,
    view: key,
    signal: run.signal,
  });
  await Deno.mkdir(join(run.cacheDir, "verified"), { recursive: true });
  await Deno.writeTextFile(marker, JSON.stringify(summary));
  verified.set(key, summary);
  return summary;
}
