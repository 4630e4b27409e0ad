/**
 * Filtered egress, as planned before a start. Under an OS layer a net grant
 * no longer opens the host's network: the plugin reaches the outside only
 * through plugbox's proxy on the host, which allows exactly the granted
 * `host:port` pairs, resolves names itself and refuses private, loopback,
 * link-local and metadata addresses unless acknowledged (see
 * `runner/host/egress_proxy.ts`).
 *
 * - Under bubblewrap the plugin has a network namespace of its own (only
 *   loopback) and the proxy's Unix socket; a relay inside listens on the
 *   sandbox's loopback (`egress_relay.ts`), and a hosts file of the
 *   sandbox's own maps each granted name to its own loopback address.
 * - Under Landlock the plugin may connect to one TCP port only, the
 *   proxy's on the host's loopback, which wants a per-start credential;
 *   `fetch` reaches it through `HTTP_PROXY`/`HTTPS_PROXY`.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { RelaySpec } from "./egress_relay.ts";
import { canonicalNetGrant } from "./net.ts";

/**
 * One granted destination: a canonical host (IPv6 in brackets) and a port, or every port.
 *
 * @example
 * ```ts
 * import type { EgressRule } from "./egress.ts";
 * const rule: EgressRule = { host: "api.example.com", port: 443 };
 * ```
 */
export interface EgressRule {
  /** The host as a URL parser writes it: lower-case, punycode, IPv6 in brackets. */
  host: string;
  /** The port; absent for a grant without one (every port). */
  port?: number;
}

/**
 * What the host's egress proxy enforces for one start.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 * const plan = await previewStart("./plugins/fetcher/main.ts", {
 *   permissions: { net: ["api.example.com:443"] },
 * });
 * console.log(plan.egress?.rules); // [{ host: "api.example.com", port: 443 }]
 * ```
 */
export interface EgressPlan {
  /** `"relay"` under bubblewrap (a Unix socket), `"port"` under Landlock (a TCP port on 127.0.0.1). */
  mode: "relay" | "port";
  /** The granted destinations; nothing else is reached. */
  rules: EgressRule[];
  /** Private, loopback and link-local addresses are allowed (`unsafe.privateNetwork`). */
  privateNetwork: boolean;
  /** Relay: the host path of the proxy's Unix socket (made at launch, in a folder only the host can enter). */
  socket?: string;
  /** Port: the proxy's TCP port on 127.0.0.1. */
  port?: number;
  /** Port: the credential the plugin's proxy variables carry. */
  token?: string;
}

/** Where the relay's socket and the sandbox's own resolver files sit inside bubblewrap. */
export const SANDBOX_SOCKET = "/run/plugbox/egress.sock";

/** The loopback network each granted name gets an address in, inside the sandbox. */
const NAME_NET = "127.88";

/** Everything a layer needs to set egress up. */
export interface EgressSetup {
  plan: EgressPlan;
  /** Variables the plugin's environment gets (the proxy's address). */
  env: Record<string, string>;
  /** Bubblewrap: what the relay listens on. */
  relay?: RelaySpec;
  /** Bubblewrap: the sandbox's hosts file and nsswitch.conf, on the host. */
  files?: { hosts: string; nsswitch: string };
  /** Things the plan's notes should say. */
  notes: string[];
}

function splitGrant(grant: string): EgressRule {
  const canonical = canonicalNetGrant(grant)!;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(canonical)!;
  return { host: match[1], port: match[2] === undefined ? undefined : Number(match[2]) };
}

const isAddress = (host: string) => host.startsWith("[") || /^[\d.]+$/.test(host);

/** Writes `text` once under the cache, named by its hash; returns the path. */
async function cacheFile(cacheDir: string, name: string, text: string): Promise<string> {
  const dir = join(cacheDir, "egress");
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${name}-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`);
  if (await Deno.readTextFile(path).catch(() => undefined) === text) return path;
  const temp = `${path}.${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, text, { mode: 0o444 });
  await Deno.rename(temp, path);
  return path;
}

/**
 * A folder for the proxy's socket: short enough for a socket path (108 bytes), host-only. Named
 * `held-<16 hex digits>`: its proxy holds it locked, and a folder of that shape no process holds
 * is a dead host's, which the next host removes (host/egress_socket.ts). A folder of plugbox
 * before review 170 (no `held-`) is never taken for one: its live proxy held no lock.
 */
function socketPath(cacheDir: string, nonce: string): string {
  const name = `held-${nonce.slice(0, 16)}`;
  const inCache = join(cacheDir, "egress", name, "s");
  return inCache.length < 100 ? inCache : join("/tmp", `plugbox-egress-${name}`, "s");
}

/** The relay's listeners and the hosts file that sends granted names to them. */
function relayListeners(rules: EgressRule[]) {
  const forwards: RelaySpec["forwards"] = [];
  const hosts = ["127.0.0.1 localhost", "::1 localhost"];
  const named = new Map<string, string>();
  for (const { host, port } of rules) {
    if (port === undefined) continue; // every port: fetch only, through the proxy port
    if (isAddress(host)) {
      const bare = host.replace(/^\[|\]$/g, "");
      // Only loopback literals exist inside the sandbox; others go through the proxy port.
      if (bare === "::1" || bare.startsWith("127.")) {
        forwards.push({ hostname: bare, port, target: `${host}:${port}` });
      }
      continue;
    }
    if (!named.has(host)) {
      const n = named.size + 1;
      named.set(host, `${NAME_NET}.${n >> 8}.${n & 0xff}`);
      hosts.push(`${named.get(host)} ${host}`);
    }
    forwards.push({ hostname: named.get(host)!, port, target: `${host}:${port}` });
  }
  let proxyPort = 3128;
  while (forwards.some((f) => f.hostname === "127.0.0.1" && f.port === proxyPort)) proxyPort++;
  return { forwards, hosts: hosts.join("\n") + "\n", proxyPort };
}

/**
 * Plans filtered egress for a start under an OS layer with net grants:
 * the proxy's rules and address, the plugin's proxy variables and, under
 * bubblewrap, the relay and the sandbox's resolver files.
 */
export async function planEgress(
  layer: "os" | "landlock",
  grants: readonly string[],
  options: { privateNetwork: boolean; cacheDir: string; nonce: string },
): Promise<EgressSetup> {
  const rules = grants.map(splitGrant);
  const plan: EgressPlan = {
    mode: layer === "os" ? "relay" : "port",
    rules,
    privateNetwork: options.privateNetwork,
  };
  const notes: string[] = [];
  if (layer === "landlock") {
    plan.port = freeProxyPort(rules);
    plan.token = crypto.randomUUID().replaceAll("-", "");
    const url = `http://plugbox:${plan.token}@127.0.0.1:${plan.port}`;
    notes.push(
      `egress: only through plugbox's proxy on 127.0.0.1:${plan.port} (fetch, by HTTP_PROXY and HTTPS_PROXY); ` +
        `Landlock allows no other TCP port, and Deno's checks refuse every granted host at this one (--deny-net), ` +
        `so Deno.connect and Deno.connectTls to granted hosts are refused`,
    );
    return { plan, env: proxyEnv(url), notes };
  }
  plan.socket = socketPath(options.cacheDir, options.nonce);
  const { forwards, hosts, proxyPort } = relayListeners(rules);
  const files = {
    hosts: await cacheFile(options.cacheDir, "hosts", hosts),
    nsswitch: await cacheFile(options.cacheDir, "nsswitch.conf", "hosts: files\n"),
  };
  const relay: RelaySpec = {
    socket: SANDBOX_SOCKET,
    proxy: { hostname: "127.0.0.1", port: proxyPort },
    forwards,
    maxConnections: 256,
  };
  notes.push(
    `egress: a network namespace of its own; fetch through plugbox's proxy (127.0.0.1:${proxyPort} inside), ` +
      `plain TCP and TLS to ${forwards.length} granted host:port pair(s) through the same proxy`,
  );
  return { plan, env: proxyEnv(`http://127.0.0.1:${proxyPort}`), relay, files, notes };
}

/** A free loopback port that no grant names (a grant naming it would reach past the proxy). */
function freeProxyPort(rules: EgressRule[]): number {
  const granted = new Set(rules.map((rule) => rule.port));
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (!granted.has(port)) return port;
  }
}

/**
 * Under Landlock, Deno's own flags that keep every granted host off the
 * proxy's port number: Landlock's TCP rule is a port on every address, so a
 * grant without a port would let `Deno.connect` reach the granted host at
 * that port straight, past the proxy and its log. Deno matches a deny entry
 * in the same canonical form as the grant (names, IPv4, IPv6, IPv4 inside
 * IPv6), and a name is denied by name whatever it resolves to; an address
 * the name resolves to was never granted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { proxyPortDenials } from "./egress.ts";
 * const plan = { mode: "port" as const, rules: [{ host: "example.com" }], privateNetwork: false, port: 41000 };
 * assert.deepEqual(proxyPortDenials(plan), ["--deny-net=example.com:41000"]);
 * ```
 */
export function proxyPortDenials(plan: EgressPlan | undefined): string[] {
  if (plan?.mode !== "port" || plan.port === undefined || plan.rules.length === 0) return [];
  // The proxy's own address stays reachable at its port: that connection is the proxy itself
  // (a grant of 127.0.0.1 would otherwise deny the plugin its only way out).
  const hosts = [...new Set(plan.rules.map((rule) => rule.host))].filter((h) => h !== PROXY_HOST);
  if (hosts.length === 0) return [];
  return [`--deny-net=${hosts.map((host) => `${host}:${plan.port}`).join(",")}`];
}

/** Where the proxy listens under Landlock. */
const PROXY_HOST = "127.0.0.1";

function proxyEnv(url: string): Record<string, string> {
  // Both spellings: Deno reads the upper-case ones, many other runtimes the lower-case.
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url };
}
