/**
 * The host side of filtered egress: one proxy per plugin start, reachable
 * only from that plugin's sandbox (a Unix socket in a folder only the host
 * can enter, or under Landlock a loopback port that wants the start's
 * credential). It speaks the HTTP proxy protocol: `CONNECT host:port` for
 * tunnels (https, and the relay's plain TCP and TLS) and absolute-form
 * requests for plain http. For each it checks the destination against the
 * granted `host:port` pairs, resolves the name itself, refuses private,
 * loopback, link-local, metadata and the host's own addresses unless
 * acknowledged, connects to the one address it checked (so a second answer
 * cannot change it), and logs the connection or the refusal.
 * @module
 */

import type { EgressPlan } from "../sandbox/mod.ts";
import { neutralize } from "../wire/mod.ts";
import {
  boundedResolver,
  checkDestination,
  type EgressResolver,
  ownAddresses,
  systemResolve,
  withDeadline,
} from "./egress_check.ts";
import { type EgressEntry, EgressLog } from "./egress_log.ts";
import { parseProxyRequest } from "./egress_request.ts";
import { holdSocketFolder, releaseSocketFolder } from "./egress_socket.ts";

/** Options for {@linkcode EgressProxy}. */
export interface EgressProxyOptions {
  /** The plugin's name, for the log. */
  plugin: string;
  /** Resolves names; the addresses it gives are checked like any other. */
  resolve?: EgressResolver;
  /** Told about every entry as it is logged. */
  onEntry?: (entry: EgressEntry) => void;
  /**
   * Connections open at once, and lookups running (each until it settles, past its deadline
   * too); more are refused.
   * @default {64}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection to the destination may take to open; past
   * them the attempt is abandoned (its socket closed) and the plugin told 502.
   * @default {10000}
   */
  connectTimeoutMs?: number;
}

const HEAD_LIMIT = 16 * 1024;
const HEAD_DEADLINE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

const neutralizeHost = (host: string) => neutralize(host, 255);

function close(...conns: (Deno.Conn | undefined)[]): void {
  for (const conn of conns) {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }
}

/** The bytes one connection's direction carries at a time. */
const COPY_BYTES = 64 * 1024;

/**
 * How long a connection one direction of which has ended may carry nothing the other way before
 * it is closed. An end read is a half-close or a close: TCP does not tell which, so a plugin's
 * closed socket to a target that reads nothing and never closes would hold its slot (of the
 * proxy's and the relay's) for as long as the plugin ran.
 */
const HALF_OPEN_IDLE_MS = 10_000;

/**
 * Carries bytes both ways, each direction's end passed on as the end of writing only: a stream's
 * pipe closed the whole connection at one direction's end, so a plugin that half-closed its
 * connection after its request (`shutdown(SHUT_WR)`, `closeWrite()`) lost the answer, and the
 * destination writing it got EPIPE (review 166; the Deno layer, without the proxy, kept it). Once
 * one direction has ended, the other is closed after {@linkcode HALF_OPEN_IDLE_MS} without a
 * byte. A failure of either end rejects: the caller closes both.
 */
async function carry(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  let idle: ReturnType<typeof setTimeout> | undefined;
  let half = false;
  const quiet = () => {
    clearTimeout(idle);
    idle = setTimeout(() => close(a, b), HALF_OPEN_IDLE_MS);
  };
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(COPY_BYTES);
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
      if (half) quiet();
    }
    await to.closeWrite();
    half = true;
    quiet();
  };
  try {
    await Promise.all([copy(a, b), copy(b, a)]);
  } finally {
    clearTimeout(idle);
  }
}

/**
 * One plugin's egress proxy.
 *
 * @example
 * ```ts ignore
 * const proxy = new EgressProxy(plan.egress!, { plugin: "fetcher" });
 * // ... the plugin runs ...
 * console.log(proxy.log.entries());
 * await proxy.close();
 * ```
 */
export class EgressProxy {
  /** Every connection and refusal, bounded. */
  readonly log: EgressLog;
  #plan: EgressPlan;
  #listener: Deno.Listener;
  #resolve: EgressResolver;
  #open = new Set<Deno.Conn>();
  #max: number;
  #serving: Promise<void>;
  #plugin: string;
  #connectTimeoutMs: number;
  /** Aborts every connection still being opened when the proxy closes. */
  #closing = new AbortController();
  /** The relay's socket folder, held locked while the proxy listens (egress_socket.ts). */
  #held: Deno.FsFile | undefined;

  /** Listens at once (a Unix socket or a loopback port, as the plan says). */
  constructor(plan: EgressPlan, options: EgressProxyOptions) {
    this.#plan = plan;
    this.#plugin = options.plugin;
    this.log = new EgressLog(options.onEntry);
    this.#max = options.maxConnections ?? 64;
    // Lookups count until they settle, not until the connection that asked gave up (review 127).
    this.#resolve = boundedResolver(options.resolve ?? systemResolve, this.#max);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    // Refused now, by name, as hostFetch is: a proxy that cannot list them could not refuse them.
    if (!plan.privateNetwork) ownAddresses();
    if (plan.mode === "relay") {
      const held = this.#held = holdSocketFolder(plan.socket!);
      try {
        Deno.removeSync(plan.socket!);
      } catch {
        // not there
      }
      try {
        this.#listener = Deno.listen({ transport: "unix", path: plan.socket! });
      } catch (error) {
        held.close();
        throw error;
      }
    } else {
      try {
        this.#listener = Deno.listen({ hostname: "127.0.0.1", port: plan.port! });
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse)) throw error;
        throw new Error(
          `Cannot start plugin "${options.plugin}": the egress proxy's port 127.0.0.1:${plan.port} ` +
            `was taken after the plan chose it; start it again (a new plan chooses a new port)`,
          { cause: error },
        );
      }
    }
    this.#serving = this.#accept();
  }

  /** Port mode: the loopback port it listens on (the one chosen when the plan said 0). */
  get port(): number | undefined {
    const addr = this.#listener.addr;
    return addr.transport === "tcp" ? addr.port : undefined;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#open.size >= this.#max) {
          this.#refuseEarly(conn, `more than ${this.#max} connections at once`);
          continue;
        }
        this.#open.add(conn);
        this.#handle(conn).finally(() => this.#open.delete(conn));
      }
    } catch {
      // closed
    }
  }

  #refuseEarly(conn: Deno.Conn, reason: string): void {
    this.log.add({
      plugin: this.#plugin,
      method: "",
      host: "",
      port: 0,
      verdict: "refused",
      reason,
    });
    conn.write(new TextEncoder().encode("HTTP/1.1 503 Service Unavailable\r\n\r\n"))
      .catch(() => {}).finally(() => close(conn));
  }

  async #handle(conn: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn | undefined;
    try {
      const request = await withDeadline(
        parseProxyRequest(conn, HEAD_LIMIT, this.#plan.token),
        HEAD_DEADLINE_MS,
        "the request head",
      );
      if ("refused" in request) {
        this.log.add({
          plugin: this.#plugin,
          method: "",
          host: "",
          port: 0,
          verdict: "refused",
          reason: request.refused,
        });
        return await this.#answer(conn, request.status, request.refused);
      }
      const verdict = await checkDestination(request, {
        plan: this.#plan,
        resolve: this.#resolve,
        // Read at each connection, not once: an address the host gains later (a VPN, IPv6's
        // daily addresses) was the host's to reach from a plugin running since (review 113).
        own: this.#plan.privateNetwork ? new Set() : ownAddresses(),
      });
      const entry = {
        plugin: this.#plugin,
        method: request.method,
        host: neutralizeHost(request.host),
        port: request.port,
      };
      if ("refused" in verdict) {
        this.log.add({
          ...entry,
          verdict: "refused",
          reason: verdict.refused,
          address: verdict.address,
        });
        return await this.#answer(conn, 403, verdict.refused);
      }
      // The attempt itself is aborted at its deadline, not just no longer
      // awaited: a connect left running opened once the destination took it
      // (its accept queue freed), a connection no one would ever close.
      upstream = await Deno.connect({
        hostname: verdict.address,
        port: request.port,
        signal: AbortSignal.any([
          this.#closing.signal,
          AbortSignal.timeout(this.#connectTimeoutMs),
        ]),
      }).catch((error) => {
        const reason = error?.name === "TimeoutError"
          ? `the connection took longer than ${this.#connectTimeoutMs} ms`
          : error?.message;
        this.log.add({
          ...entry,
          verdict: "refused",
          address: verdict.address,
          reason: `cannot connect: ${reason}`,
        });
        return undefined;
      });
      if (!upstream) return await this.#answer(conn, 502, "cannot connect");
      this.log.add({ ...entry, verdict: "allowed", address: verdict.address });
      if (request.method === "CONNECT") {
        await conn.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
      }
      if (request.forward.length) await upstream.write(request.forward);
      await carry(conn, upstream);
    } catch {
      // the plugin went away, or the head never came
    } finally {
      close(conn, upstream);
    }
  }

  async #answer(conn: Deno.Conn, status: number, reason: string): Promise<void> {
    const body = `plugbox refused this connection: ${reason}\n`;
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 ${status} ${status === 407 ? "Proxy Authentication Required" : "Forbidden"}\r\n` +
        `content-type: text/plain\r\ncontent-length: ${new TextEncoder().encode(body).length}\r\n` +
        `connection: close\r\n\r\n${body}`,
    )).catch(() => {});
  }

  /** Stops listening, ends every open connection and removes the socket. */
  async close(): Promise<void> {
    this.#closing.abort();
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const conn of this.#open) close(conn);
    await this.#serving;
    if (this.#held) await releaseSocketFolder(this.#plan.socket!, this.#held);
  }
}
