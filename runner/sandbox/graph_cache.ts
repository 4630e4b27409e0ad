/**
 * The module-graph check, cached: a snapshot's entry that passed once (for
 * this SDK and Deno) is not resolved again; its graph summary is kept.
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import type { MountPlan } from "./isolation.ts";
import { checkGraph, type GraphSummary } from "./preflight.ts";
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
  wrap: (mounts: MountPlan) => Promise<string[]>;
  env: Record<string, string>;
  cacheDir: string;
  timeoutMs: number;
  denoDir: string;
  home: string;
}

/** Runs the module-graph check unless this entry of this snapshot already passed it. */
export async function verifyGraph(run: PreflightRun): Promise<GraphSummary> {
  const { snapshot, sdk } = run;
  // The entry is part of the key: one folder can hold a good entry and a hostile one.
  const key = createHash("sha256")
    .update(`${snapshot.hash}\0${snapshot.entry}\0${sdk.dir}\0${run.deno}\0${run.denoVersion}`)
    .digest("hex");
  const marker = join(run.cacheDir, "verified", key);
  const known = verified.get(key) ??
    await Deno.readTextFile(marker).then((text) => JSON.parse(text) as GraphSummary).catch(() =>
      undefined
    );
  if (known) {
    verified.set(key, known);
    return known;
  }
  const prefix = await run.wrap({
    programs: [run.deno],
    readOnly: [snapshot.dir, sdk.dir, run.home],
    readWrite: [run.denoDir],
    net: false,
    dev: false,
    tmpBytes: 16 * 1024 * 1024,
    cwd: snapshot.dir,
  });
  const summary = await checkGraph({
    plugin: run.name,
    prefix,
    deno: run.deno,
    entry: snapshot.entry,
    snapshot: snapshot.dir,
    root: run.root,
    allowedRoots: [snapshot.dir, sdk.dir],
    importMap: sdk.importMap,
    env: run.env,
    timeoutMs: run.timeoutMs,
  });
  await Deno.mkdir(dirname(marker), { recursive: true });
  await Deno.writeTextFile(marker, JSON.stringify(summary));
  verified.set(key, summary);
  return summary;
}
