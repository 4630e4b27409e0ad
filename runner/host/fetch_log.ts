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
  /** The destination's host. */
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

/** A bounded log of {@linkcode FetchLogEntry}. */
export class FetchLog {
  #entries: FetchLogEntry[] = [];
  #max: number;
  #onEntry?: (entry: FetchLogEntry) => void;

  constructor(onEntry?: (entry: FetchLogEntry) => void, max = 256) {
    this.#onEntry = onEntry;
    this.#max = max;
  }

  /** Adds an entry (stamped now), dropping the oldest beyond the cap. */
  add(entry: Omit<FetchLogEntry, "time">): void {
    const stamped = Object.freeze({ time: Date.now(), ...entry });
    this.#entries.push(stamped);
    if (this.#entries.length > this.#max) this.#entries.shift();
    guarded(this.#onEntry)(stamped); // a listener's fault is not the request's
  }

  /** The entries of `plugin` (or all), oldest first. */
  entries(plugin?: string): FetchLogEntry[] {
    return this.#entries.filter((e) => plugin === undefined || e.plugin === plugin);
  }
}
