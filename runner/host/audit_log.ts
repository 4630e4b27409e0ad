/**
 * The audit of one plugin process as the host keeps it: distinct entries
 * (kind, value, verdict) with counts, times and the calls they happened
 * in, under a bound on how many are kept.
 * @module
 */

import type { IsolationLayer, JudgedCheck } from "../sandbox/mod.ts";

/**
 * A call an entry happened in: the host's sequence number of the call on
 * this process, and its method.
 *
 * @example
 * ```ts
 * import type { AuditCall } from "./audit_log.ts";
 * const call: AuditCall = { id: 3, method: "kv.set" };
 * ```
 */
export interface AuditCall {
  /** 1 for the first call sent to this process, 2 for the next, ... */
  id: number;
  /** The method, `contract.method` (or a runtime method such as `$/describe`). */
  method: string;
}

/**
 * One thing the plugin touched, or tried to: every check of the same kind
 * and value folds into one entry.
 *
 * @example
 * ```ts ignore
 * const log = await plugin.audit();
 * for (const e of log.entries) {
 *   const where = e.calls.map((c) => c.method).join(", ") || "outside calls";
 *   console.log(`${e.granted ? "granted" : "DENIED "} ${e.kind} ${e.value} (${e.count}x, ${where})`);
 * }
 * ```
 */
export interface AuditEntry {
  /**
   * Who saw it: `"deno"`, Deno's permission check. Another observer of the
   * process (an egress proxy's connection log, say) records under its own
   * name through the recorder's `observe`.
   */
  source: string;
  /** `read`, `write`, `net`, `env`, `sys`, `run`, `ffi`, `import`, or a kind Deno added since. */
  kind: string;
  /**
   * An absolute path, `host:port`, a variable or sys name, or `null` for the
   * whole kind (`Deno.env.toObject()`). Chosen by the plugin: neutralised.
   */
  value: string | null;
  /** Whether the grants allowed it (plugbox's verdict, by Deno's rules, from the same grants). */
  granted: boolean;
  /** How many checks folded into this entry. */
  count: number;
  /** When the host first read such a check, in ms since the epoch. */
  first: number;
  /** When the host last read one. */
  last: number;
  /** Calls it happened in, when exactly one call was in flight (at most 8 listed). */
  calls: AuditCall[];
  /** Checks made while no call was in flight: at start, or from timers. */
  outsideCalls: number;
  /** Checks made while several calls were in flight: the call cannot be told. */
  ambiguous: number;
  /**
   * Under the OS layer, `"outside-mounts"` when a granted path's real path
   * (looked up on the host afterwards) lies outside every folder mounted for
   * the plugin: Deno allowed it, but the sandbox did not show it.
   */
  osLayer?: "outside-mounts";
  /**
   * A relative path checked after the plugin may have changed its working folder (`Deno.chdir`
   * asks only for read of the folder it enters, and the audit line names no folder): `value` and
   * `granted` are judged from the folder it started in, which may not be where Deno resolved it.
   */
  uncertain?: true;
}

/**
 * What one plugin process touched, as recorded by the host.
 *
 * @example
 * ```ts ignore
 * const log = await plugin.audit();
 * if (!log.complete) console.warn(`audit incomplete: ${log.dropped} dropped, ${log.malformed} malformed`);
 * console.log(log.entries.filter((e) => !e.granted));
 * ```
 */
export interface AuditLog {
  /** The plugin's name. */
  plugin: string;
  /** Its folder. */
  root: string;
  /** The snapshot it ran from (its own files, as the plugin sees them). */
  snapshot: string;
  /** The isolation it ran under. */
  isolation: IsolationLayer;
  /** The grants it ran with (variable names only, never their values). */
  grants: { read: string[]; write: string[]; net: string[]; env: string[]; sys: string[] };
  /** Distinct entries, in the order first seen. */
  entries: AuditEntry[];
  /** Permission checks read. */
  checks: number;
  /** Bytes of Deno's audit lines read (bounded by `maxLogBytes`). */
  bytes: number;
  /** New entries not kept because `maxEntries` were kept already. */
  dropped: number;
  /** Lines of the audit file that were not a permission check. */
  malformed: number;
  /**
   * Checks of a relative path after the plugin may have changed its working folder (see
   * {@linkcode AuditEntry.uncertain}).
   */
  uncertain?: number;
  /** True when the process passed `maxLogBytes` and was killed for it. */
  overflow: boolean;
  /** The process has ended and its audit file was read to the end. */
  finished: boolean;
  /** Nothing dropped, nothing malformed, nothing uncertain, no overflow. */
  complete: boolean;
}

/** Most calls listed per entry. */
const MAX_CALLS = 8;

/** The bounded set of entries, and the counters around it. */
export class AuditEntries {
  #entries = new Map<string, AuditEntry>();
  #max: number;
  checks = 0;
  dropped = 0;
  malformed = 0;
  uncertain = 0;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  /**
   * Adds one judged check, seen by `source`, made while `open` calls were in flight. Returns
   * the entry when it is new (for the `audit` event), else undefined.
   */
  add(
    source: string,
    check: JudgedCheck,
    open: ReadonlyMap<number, string>,
    osLayer: (check: JudgedCheck) => AuditEntry["osLayer"],
    uncertain = false,
  ): AuditEntry | undefined {
    this.checks++;
    if (uncertain) this.uncertain++;
    const now = Date.now();
    const key = `${source}\0${check.kind}\0${check.value}`;
    let entry = this.#entries.get(key);
    const isNew = entry === undefined;
    if (!entry) {
      if (this.#entries.size >= this.#max) {
        this.dropped++;
        return undefined;
      }
      entry = {
        source,
        ...check,
        count: 0,
        first: now,
        last: now,
        calls: [],
        outsideCalls: 0,
        ambiguous: 0,
      };
      const hidden = osLayer(check);
      if (hidden) entry.osLayer = hidden;
      this.#entries.set(key, entry);
    }
    entry.count++;
    entry.last = now;
    if (uncertain) entry.uncertain = true;
    if (open.size === 0) entry.outsideCalls++;
    else if (open.size > 1) entry.ambiguous++;
    else {
      const [[id, method]] = open;
      if (entry.calls.length < MAX_CALLS && !entry.calls.some((c) => c.id === id)) {
        entry.calls.push({ id, method });
      }
    }
    return isNew ? entry : undefined;
  }

  /** A deep copy of the entries, in the order first seen. */
  list(): AuditEntry[] {
    return [...this.#entries.values()].map((e) => ({
      ...e,
      calls: e.calls.map((c) => ({ ...c })),
    }));
  }
}
