/**
 * The per-plugin log of `hostFetch`: every request made, refused or failed,
 * newest last, bounded. Its entries have the shape of the egress proxy's
 * log (time, plugin, method, host, port, address, verdict, reason), plus
 * what only a capability knows: the URL, the status, the secrets sent.
 * @module
 */

import { guarded } from "./listener.ts";

/**
 * One request through `hostFetch`.
 *
 * @example
 * ```ts ignore
 * for (const e of fetcher.log("weather")) {
 *   console.log(e.verdict, e.method, e.url, e.status ?? e.reason, e.secrets.join(","));
 * }
 * ```
 */
export interface FetchLogEntry {
  /** When it was decided (ms since the epoch). */
  time: number;
  /** The plugin's name. */
  plugin: string;
  /** The http method. */
  method: string;
  /** The URL asked for (neutralised, bounded); empty when it did not parse. */
  url: string;
  /** The destination's host (neutralised, bounded). */
  host: string;
  /** The destination's port. */
  port: number;
  /** The address the check allowed. */
  address?: string;
  /** Made (`allowed`), refused before connecting, or failed after. */
  verdict: "allowed" | "refused" | "failed";
  /** Why it was refused or failed. */
  reason?: string;
  /** The response status. */
  status?: number;
  /** The names of the secrets sent with it (never their values). */
  secrets: string[];
}

/**
 * A log of {@linkcode FetchLogEntry}, bounded per plugin: one plugin's
 * requests never push another's out, and what its own pushed out is counted
 * (review 84: 256 cheap refusals wiped every plugin's earlier requests).
 */
export class FetchLog {
  #entries = new Map<string, FetchLogEntry[]>();
  #dropped = new Map<string, number>();
  #max: number;
  #onEntry?: (entry: FetchLogEntry) => void;

  constructor(onEntry?: (entry: FetchLogEntry) => void, max = 256) {
    this.#onEntry = onEntry;
    this.#max = max;
  }

  /**
   * Adds an entry (stamped now), dropping its plugin's oldest beyond the cap; with `keep` false
   * (a request of a name forgotten while it was under way) it is only told to the listener.
   */
  add(entry: Omit<FetchLogEntry, "time">, keep = true): void {
    const stamped = Object.freeze({ time: Date.now(), ...entry });
    if (!keep) return guarded(this.#onEntry)(stamped);
    let entries = this.#entries.get(stamped.plugin);
    if (!entries) this.#entries.set(stamped.plugin, entries = []);
    entries.push(stamped);
    if (entries.length > this.#max) {
      entries.shift();
      this.#dropped.set(stamped.plugin, (this.#dropped.get(stamped.plugin) ?? 0) + 1);
    }
    guarded(this.#onEntry)(stamped); // a listener's fault is not the request's
  }

  /** The entries of `plugin` (or all), oldest first. */
  entries(plugin?: string): FetchLogEntry[] {
    if (plugin !== undefined) return [...this.#entries.get(plugin) ?? []];
    return [...this.#entries.values()].flat().sort((a, b) => a.time - b.time);
  }

  /** Drops the entries of `plugin` and their count. */
  forget(plugin: string): void {
    this.#entries.delete(plugin);
    this.#dropped.delete(plugin);
  }

  /** How many entries of `plugin` (or of all) the cap has dropped. */
  dropped(plugin?: string): number {
    if (plugin !== undefined) return this.#dropped.get(plugin) ?? 0;
    return [...this.#dropped.values()].reduce((sum, n) => sum + n, 0);
  }
}
