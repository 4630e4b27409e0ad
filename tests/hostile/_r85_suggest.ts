/**
 * Review 85's measure of plug suggest's work: an audit of `n` denied reads of distinct files
 * that exist, each its own suggestion, and the CPU time suggestManifest() takes for it.
 * @module
 */

import { type AuditLog, suggestManifest } from "../../mod.ts";

/** An audit of `n` denied reads, one per file in `dir` (named `f0` to `f<n-1>`). */
export function deniedReads(dir: string, n: number): AuditLog {
  const entries = Array.from({ length: n }, (_, i) => ({
    source: "deno",
    kind: "read",
    value: `${dir}/f${i}`,
    granted: false,
    count: 1,
    first: 0,
    last: 0,
    calls: [],
    outsideCalls: 1,
    ambiguous: 0,
  }));
  return {
    plugin: "p",
    root: "/nonexistent/root",
    snapshot: "/nonexistent/snapshot",
    isolation: "deno",
    grants: { read: [], write: [], net: [], env: [], sys: [] },
    entries,
    checks: n,
    bytes: 0,
    dropped: 0,
    malformed: 0,
    overflow: false,
    finished: true,
    complete: true,
  };
}

/** This thread's CPU time, in ms: the event loop's. */
function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/thread-self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The CPU time suggestManifest() takes for `log`, in ms, and how many reads it suggests. */
export function suggestCost(log: AuditLog): { ms: number; suggested: number } {
  const before = cpuMs();
  const { manifest } = suggestManifest([log]);
  return { ms: cpuMs() - before, suggested: manifest.permissions.read?.length ?? 0 };
}
