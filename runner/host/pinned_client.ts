/**
 * An HTTP client that reaches one checked address and no other. `hostFetch`
 * resolves a name once and checks the answer; a plain `fetch` would resolve
 * it again, and a name whose answers change between the two (DNS rebinding)
 * would pass the check and then reach loopback or a private address with
 * the secret attached. So each request goes through its own egress proxy on
 * a loopback port with a fresh credential, whose resolver answers only the
 * checked address: the proxy checks it again and connects to it (https is a
 * CONNECT tunnel, TLS end to end and verified for the URL's name; plain http
 * an absolute-form request). No other answer for the name is ever connected to.
 * (Deno's fetch still looks the name up itself, for its own deny-list check,
 * and goes on when that lookup fails; its answer is never connected to.)
 * Deno's client also reads `NO_PROXY` when it is made and skips even an
 * explicit proxy for what it lists, connecting to its own lookup's answer:
 * the client is made with both spellings out of the environment (review 84).
 * @module
 */

import type { EgressPlan } from "../sandbox/mod.ts";
import { EgressProxy } from "./egress_proxy.ts";
import type { EgressEntry } from "./egress_log.ts";

/** A client pinned to one address, and the proxy it goes through. */
export interface PinnedClient {
  /** Pass as `fetch`'s `client`. */
  client: Deno.HttpClient;
  /** The proxy's last refusal, if any (a check it failed, or a connection it could not make): its answer is not the server's. */
  refusal(): EgressEntry | undefined;
  /** Closes the client and the proxy. */
  close(): Promise<void>;
}

/**
 * Opens a client whose every connection goes to `address`, checked again by
 * the proxy against `plan`.
 *
 * @example
 * ```ts ignore
 * const pinned = pinnedClient("93.184.215.14", plan, "weather");
 * try {
 *   await fetch("https://api.example.com/", { client: pinned.client });
 * } finally {
 *   await pinned.close();
 * }
 * ```
 */
export function pinnedClient(address: string, plan: EgressPlan, plugin: string): PinnedClient {
  const token = crypto.randomUUID();
  const proxy = new EgressProxy({ ...plan, mode: "port", port: 0, token }, {
    plugin,
    resolve: () => Promise.resolve([address]),
    maxConnections: 4,
  });
  let client: Deno.HttpClient;
  try {
    client = withoutNoProxy(() =>
      Deno.createHttpClient({
        proxy: {
          url: `http://127.0.0.1:${proxy.port}`,
          basicAuth: { username: "plugbox", password: token },
        },
      })
    );
  } catch (error) {
    void proxy.close(); // its listener is no one's
    throw error;
  }
  return {
    client,
    refusal: () => proxy.log.entries().findLast((e) => e.verdict === "refused"),
    close: async () => {
      client.close();
      await proxy.close();
    },
  };
}

/** What Deno's fetch reads when a client is made: names and addresses it sends past any proxy. */
const NO_PROXY_NAMES = ["NO_PROXY", "no_proxy"];

/** Whether the host may hide `NO_PROXY` from its clients (it needs to read and set both spellings). */
export function mayHideNoProxy(): boolean {
  return NO_PROXY_NAMES.every((variable) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted"
  );
}

/**
 * Why `NO_PROXY` cannot be hidden here, or undefined. The environment is the
 * process's, shared by every thread: two Workers hiding it at once restored
 * it under each other's client (review 86: 93 of 8,003 clients made with it
 * present). Only the main thread hides it; a Worker may use hostFetch while
 * neither spelling is set.
 */
export function noProxyUnhidable(): string | undefined {
  const set = NO_PROXY_NAMES.filter((name) => Deno.env.get(name) !== undefined);
  if (set.length === 0 || !("WorkerGlobalScope" in globalThis)) return undefined;
  return `${set.join(" and ")} ${
    set.length > 1 ? "are" : "is"
  } set, and a Worker cannot hide it from its clients without racing the other threads; use hostFetch from the main thread, or start the host without it`;
}

/**
 * Makes a client with `NO_PROXY` out of the environment, and puts it back:
 * synchronous, so nothing on this thread sees the gap, and done on the main
 * thread only ({@linkcode noProxyUnhidable}).
 */
function withoutNoProxy(make: () => Deno.HttpClient): Deno.HttpClient {
  const unhidable = noProxyUnhidable();
  if (unhidable) throw new Error(`Cannot make the per-request proxy's client: ${unhidable}`);
  const saved = NO_PROXY_NAMES.map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of saved) if (value !== undefined) Deno.env.delete(name);
  try {
    return make();
  } finally {
    for (const [name, value] of saved) if (value !== undefined) Deno.env.set(name, value);
  }
}
