/**
 * The per-plugin egress log: every connection the proxy made and every one
 * it refused, newest last, bounded (the oldest entries go first, and are
 * counted).
 * @module
 */

import { guarded } from "./listener.ts";

/**
 * One connection or refusal by a plugin's egress proxy. `host` is what the
 * plugin asked for (canonical, neutralised); `address` the one address
 * plugbox checked and connected to (or refused).
 *
 * @example
 * ```ts ignore
 * for (const entry of plugin.egressLog()) {
 *   console.log(entry.verdict, `${entry.host}:${entry.port}`, entry.address ?? "", entry.reason ?? "");
 * }
 * ```
 */
export interface EgressEntry {
  /** When it was decided (ms since the epoch). */
  time: number;
  /** The plugin's name. */
  plugin: string;
  /** `CONNECT` for a tunnel, else the plain http method; empty when the request was unreadable. */
  method: string;
  /** The destination asked for. */
  host: string;
  /** The destination's port. */
  port: number;
  /** The address connected to, or the one refused. */
  address?: string;
  /** Whether the proxy connected it. */
  verdict: "allowed" | "refused";
  /** Why it was refused. */
  reason?: string;
}

/** A bounded log of {@linkcode EgressEntry}. */
export class EgressLog {
  #entries: EgressEntry[] = [];
  #max: number;
  #dropped = 0;
  #onEntry?: (entry: EgressEntry) => void;

  constructor(onEntry?: (entry: EgressEntry) => void, max = 256) {
    this.#onEntry = onEntry;
    this.#max = max;
  }

  /** Adds an entry (stamped now), dropping the oldest beyond the cap. */
  add(entry: Omit<EgressEntry, "time">): void {
    const stamped = Object.freeze({ time: Date.now(), ...entry });
    this.#entries.push(stamped);
    if (this.#entries.length > this.#max) {
      this.#entries.shift();
      this.#dropped++;
    }
    guarded(this.#onEntry)(stamped); // a listener's fault is not the proxy's
  }

  /** The entries kept, oldest first. */
  entries(): EgressEntry[] {
    return [...this.#entries];
  }

  /** How many older entries were dropped to keep the cap. */
  get dropped(): number {
    return this.#dropped;
  }
}
