/**
 * Where the egress proxy decides: is a destination granted, and which of
 * the addresses its name resolves to may be reached. Loopback, private,
 * link-local, cloud-metadata and the host's own addresses are refused unless
 * the host acknowledged `unsafe.privateNetwork`.
 * @module
 */

import { lookup } from "node:dns/promises";
import { canonicalNetGrant, type EgressPlan, isPrivateHost } from "../sandbox/mod.ts";
import { neutralize } from "../wire/mod.ts";

/**
 * Resolves a name to the addresses to try, as the host's resolver would (its
 * hosts file included). The proxy checks every address it gives.
 *
 * @example
 * ```ts ignore
 * import { type EgressResolver, startPlugin } from "@plugbox/plugbox";
 * import { Fetcher } from "./plugins/fetcher/contract.ts";
 *
 * // Pinned answers: the name reaches this address and no other.
 * const pinned: EgressResolver = (host) =>
 *   host === "api.example.com" ? Promise.resolve(["93.184.215.14"]) : Promise.resolve([]);
 * await using plugin = await startPlugin("./plugins/fetcher/main.ts", {
 *   contracts: [Fetcher],
 *   permissions: { net: ["api.example.com:443"] },
 *   egressResolver: pinned,
 * });
 * ```
 */
export type EgressResolver = (hostname: string) => Promise<string[]>;

/**
 * How long a lookup may run before its destination is refused (5 s). Internal, not exported by
 * mod.ts: tests whose resolver never answers shorten it rather than wait it out.
 */
export const resolving: { deadlineMs: number } = { deadlineMs: 5_000 };

const neutralizeHost = (host: string) => neutralize(host, 255);

/** The host's resolver (getaddrinfo: its hosts file, DNS). */
export async function systemResolve(hostname: string): Promise<string[]> {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

/** The host's own interface addresses, each as {@linkcode addressKey} spells it: reaching them is reaching the host. */
export function ownAddresses(): Set<string> {
  try {
    return new Set(Deno.networkInterfaces().map((i) => addressKey(i.address)));
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return new Set();
  }
}

/**
 * One spelling per address, to compare with the host's own: IPv6 compressed and lower-case, an
 * IPv4-mapped IPv6 address as the IPv4 it connects to. A name answering `::ffff:192.0.2.2` reached
 * the host's own 192.0.2.2, which the set held only in its IPv4 spelling (review 111).
 */
function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, "");
  if (!bare.includes(":")) return canonicalNetGrant(bare) ?? bare;
  const v6 = canonicalNetGrant(`[${bare}]`)?.slice(1, -1) ?? bare.toLowerCase();
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** Whether `address` (as a resolver gives it) is this machine's loopback, in any spelling. */
export function isLoopback(address: string): boolean {
  const key = addressKey(address);
  return key.startsWith("127.") || key === "::1";
}

/**
 * `resolve` with at most `max` of its lookups running at once, each counted until it settles,
 * past any deadline that gave up on it; more are refused. A lookup cannot be cancelled
 * (getaddrinfo holds one of the host's threads until the resolver answers): counting only the
 * connections or calls still waiting let a granted name whose DNS answers slowly have the host run
 * a new lookup for each one that took an abandoned one's place, without bound (review 127). Its
 * `running` is that count; `onIdle` is called each time it drops to 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boundedResolver } from "./egress_check.ts";
 * const resolve = boundedResolver(() => new Promise(() => {}), 1);
 * void resolve("a.example");
 * assert.equal(resolve.running, 1);
 * await assert.rejects(resolve("b.example"), /1 lookups still running/);
 * ```
 */
export function boundedResolver(
  resolve: EgressResolver,
  max: number,
  onIdle?: () => void,
): EgressResolver & { readonly running: number } {
  let running = 0;
  // `onIdle` when the last one settles: it may be one given up on, after every call (review 151).
  const settled = () => void (--running === 0 && onIdle?.());
  const bounded = (hostname: string) => {
    if (running >= max) return Promise.reject(new Error(`${max} lookups still running`));
    running++;
    let lookup: Promise<string[]>;
    try {
      lookup = Promise.resolve(resolve(hostname));
    } catch (error) {
      lookup = Promise.reject(error);
    }
    lookup.then(settled, settled);
    return lookup;
  };
  return Object.defineProperty(bounded, "running", { get: () => running }) as
    & EgressResolver
    & { readonly running: number };
}

/** Rejects when `promise` has not settled within `ms`; the timer never leaks. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Is the destination granted, and which of its addresses may be reached? */
export async function checkDestination(
  request: { host: string; port: number },
  context: { plan: EgressPlan; resolve: EgressResolver; own: ReadonlySet<string> },
): Promise<{ address: string } | { refused: string; address?: string }> {
  const { host, port } = request;
  if (
    !context.plan.rules.some((r) => r.host === host && (r.port === undefined || r.port === port))
  ) {
    return { refused: `${neutralizeHost(host)}:${port} is not granted` };
  }
  const bare = host.replace(/^\[|\]$/g, "");
  const literal = host.startsWith("[") || /^[\d.]+$/.test(host);
  let addresses: string[];
  try {
    addresses = literal
      ? [bare]
      : await withDeadline(context.resolve(bare), resolving.deadlineMs, "resolving");
  } catch (error) {
    return { refused: `cannot resolve ${neutralizeHost(host)}: ${(error as Error).message}` };
  }
  let refusedAddress: string | undefined;
  for (const address of addresses.slice(0, 32)) {
    const spelled = address.includes(":") ? `[${address.replace(/%.*$/, "")}]` : address;
    const local = isPrivateHost(spelled) || context.own.has(addressKey(address));
    if (!local || context.plan.privateNetwork) return { address };
    refusedAddress ??= address;
  }
  if (refusedAddress) {
    return {
      refused:
        `${neutralizeHost(host)} resolves to ${refusedAddress}, a loopback, private, link-local ` +
        `or own address (unsafe.privateNetwork allows it)`,
      address: refusedAddress,
    };
  }
  return { refused: `${neutralizeHost(host)} resolves to no address` };
}
