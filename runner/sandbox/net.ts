/**
 * Net grants: put in the canonical form Deno compares against (so what is
 * checked is what is enforced), and classified: a grant that reaches the
 * host's own machine or a private network needs an explicit
 * acknowledgement (THREATS T8). A name counts as private when it is spelled
 * like one or when this machine resolves it to a private address at plan
 * time, its hosts file included (THREATS T18). Answers that change after the plan
 * (DNS rebinding) are not re-checked here.
 * @module
 */

import { lookup } from "node:dns/promises";

// Special-use names that only ever resolve locally (RFC 6761, 6762, 8375; ICANN's .internal).
const LOCAL_NAMES = /(^|\.)(localhost|local|internal|home\.arpa|lan)\.?$/i;

function splitPort(entry: string): { host: string; port: string } {
  if (entry.startsWith("[")) {
    const end = entry.indexOf("]");
    return { host: entry.slice(0, end + 1), port: entry.slice(end + 1) };
  }
  const colon = entry.lastIndexOf(":");
  return colon === -1
    ? { host: entry, port: "" }
    : { host: entry.slice(0, colon), port: entry.slice(colon) };
}

/**
 * The canonical form of a net grant, as a URL parser (and so Deno) reads
 * it: `0x7f.1` and `2130706433` are `127.0.0.1`, IPv6 is compressed, names
 * are lower-case and punycoded. Undefined when it is not a host at all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalNetGrant } from "./net.ts";
 * assert.equal(canonicalNetGrant("0x7f000001:8080"), "127.0.0.1:8080");
 * ```
 */
export function canonicalNetGrant(entry: string): string | undefined {
  const { host, port } = splitPort(entry);
  try {
    const hostname = new URL(`http://${host}/`).hostname;
    return hostname === "" ? undefined : hostname + port;
  } catch {
    return undefined;
  }
}

function privateV4(octets: number[]): boolean {
  const [a, b] = octets;
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && octets[2] === 0) ||
    (a === 198 && (b === 18 || b === 19));
}

function parseV4(host: string): number[] | undefined {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** Eight 16-bit groups of a compressed IPv6 address (as a URL parser writes it). */
function expandV6(host: string): number[] | undefined {
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array(missing).fill("0"), ...tail].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function v4From(high: number, low: number): number[] {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}

function privateV6(groups: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups;
  const zeros = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (zeros(8) || (zeros(7) && g7 === 1)) return true; // :: and ::1
  // Addresses that carry an IPv4 address: mapped, compatible, NAT64, 6to4, Teredo.
  if (zeros(5) && g5 === 0xffff) return privateV4(v4From(g6, g7));
  if (zeros(6)) return privateV4(v4From(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return privateV4(v4From(g6, g7));
  }
  // Local-use NAT64 (RFC 8215): a network's own translator, the IPv4 inside at any of RFC 6052's
  // places; the whole /48 counts, as the private networks it leads to cannot be told apart.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return true;
  if (g0 === 0x2002) return privateV4(v4From(g1, g2));
  if (g0 === 0x2001 && g1 === 0) return true; // Teredo: the IPv4 inside is obfuscated; count it as private
  return (g0 & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (g0 & 0xffc0) === 0xfe80 || // fe80::/10 link local
    (g0 & 0xffc0) === 0xfec0 || // fec0::/10 site local (deprecated)
    (g0 & 0xff00) === 0xff00 || // multicast
    (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0); // 100::/64 discard
}

/**
 * True when a net grant (`host` or `host:port`, canonical or not) names the
 * local machine, a private, link-local or special range (IPv4 inside IPv6
 * included), or a name that only resolves locally. Anything that is not a
 * host counts as private.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPrivateHost } from "./net.ts";
 * assert.ok(isPrivateHost("127.0.0.1:8080") && isPrivateHost("[::ffff:7f00:1]:80"));
 * assert.ok(!isPrivateHost("example.com:443"));
 * ```
 */
export function isPrivateHost(entry: string): boolean {
  const canonical = canonicalNetGrant(entry);
  if (canonical === undefined) return true;
  const { host } = splitPort(canonical);
  if (host.startsWith("[")) {
    const groups = expandV6(host.slice(1, -1));
    return groups === undefined || privateV6(groups);
  }
  if (LOCAL_NAMES.test(host)) return true;
  const v4 = parseV4(host);
  if (v4) return privateV4(v4);
  return /^[\d.]+$/.test(host); // numeric but not an address: treat as private
}

/** Options for {@linkcode privateAddressOf}. */
export interface ResolveOptions {
  /**
   * Hosts files to read.
   * @default {["/etc/hosts"]}
   */
  hostsFiles?: readonly string[];
  /**
   * Deadline for the system resolver, in milliseconds.
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Ask the system resolver (getaddrinfo: the hosts file, DNS, whatever
   * nsswitch says) too; only when this process has net permission, so the
   * lookup never prompts.
   * @default {true}
   */
  system?: boolean;
}

function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** Every name the hosts files list, with its addresses, read once for many names. */
function hostsTable(files: readonly string[]): Map<string, string[]> {
  const table = new Map<string, string[]>();
  for (const file of files) {
    let text = "";
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
      if (!address) continue;
      for (const name of names) {
        const key = bare(name);
        const known = table.get(key) ?? [];
        if (!known.includes(address)) known.push(address);
        table.set(key, known);
      }
    }
  }
  return table;
}

function isPrivateAddress(address: string): boolean {
  return isPrivateHost(address.includes(":") ? `[${address.replace(/%.*$/, "")}]` : address);
}

async function systemAddresses(host: string, timeoutMs: number): Promise<string[]> {
  // Without net permission the lookup would prompt (or fail): the hosts file alone answers then.
  if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") return [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
  });
  try {
    const answers = await Promise.race([lookup(host, { all: true }), deadline]);
    return answers.map((a) => a.address);
  } catch {
    return []; // unresolvable here and now: it reaches nothing private now
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The private, loopback or link-local address this machine resolves a net
 * grant's host to right now, from its hosts files and its system resolver,
 * or undefined when it resolves to none (or to nothing). IP literals are
 * left to {@linkcode isPrivateHost}.
 *
 * @example
 * ```ts ignore
 * import { privateAddressOf } from "./net.ts";
 * console.log(await privateAddressOf("localhost:80")); // "127.0.0.1"
 * ```
 */
export async function privateAddressOf(
  entry: string,
  options: ResolveOptions = {},
): Promise<string | undefined> {
  return (await firstPrivateAddress([entry], options)).found?.address;
}

/**
 * Lookups at once. A start's names were looked up one after another, with
 * no deadline for them all (3,000 names: 4 minutes here, where the
 * resolver answers about 15 a second, however many are asked at once, and
 * drops 1 in 27 until its 2 s deadline). More at once helps a resolver that
 * answers in parallel; here 32 at once made each wait out its deadline.
 */
const LOOKUPS_AT_ONCE = 4;

/** How long a start's names may take to look up, all of them: none begins after it. */
const NAMES_TOTAL_MS = 10_000;

/** What {@linkcode firstPrivateAddress} found. */
export interface PrivateFinding {
  /** The first entry, in the order given, that resolves to a private address. */
  found?: { entry: string; address: string };
  /** Entries whose names were not looked up before the deadline for them all. */
  unchecked: string[];
}

/**
 * The first of `entries`, in their order, that this machine resolves to a
 * private, loopback or link-local address right now, with that address; each
 * name looked up once, the hosts files read once, {@linkcode LOOKUPS_AT_ONCE}
 * lookups at a time, each within its own deadline as in
 * {@linkcode privateAddressOf}, and none begun after `totalMs` (the entries
 * not looked up are `unchecked`, for the caller to refuse).
 *
 * @example
 * ```ts ignore
 * import { firstPrivateAddress } from "./net.ts";
 * console.log(await firstPrivateAddress(["example.com:443", "localhost:80"]));
 * // { found: { entry: "localhost:80", address: "127.0.0.1" }, unchecked: [] }
 * ```
 */
export async function firstPrivateAddress(
  entries: readonly string[],
  options: ResolveOptions & { totalMs?: number; signal?: AbortSignal } = {},
): Promise<PrivateFinding> {
  const names = new Map<string, string>(); // host -> its first entry
  for (const entry of entries) {
    const canonical = canonicalNetGrant(entry);
    if (canonical === undefined) continue;
    const { host } = splitPort(canonical);
    if (host.startsWith("[") || parseV4(host) || /^[\d.]+$/.test(host)) continue;
    if (!names.has(host)) names.set(host, entry);
  }
  const table = hostsTable(options.hostsFiles ?? ["/etc/hosts"]);
  const found = new Map<string, string>();
  for (const host of names.keys()) {
    const local = (table.get(bare(host)) ?? []).find(isPrivateAddress);
    if (local) found.set(host, local);
  }
  const queue = found.size === 0 && options.system !== false ? [...names.keys()] : [];
  const end = performance.now() + (options.totalMs ?? NAMES_TOTAL_MS);
  const worker = async () => {
    // None begun once the start is stopped: an aborted start's lookups went on for 10 s (r167).
    while (queue.length > 0 && performance.now() < end && !options.signal?.aborted) {
      const host = queue.shift()!;
      const address = (await systemAddresses(host, options.timeoutMs ?? 2000))
        .find(isPrivateAddress);
      if (address) found.set(host, address);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOOKUPS_AT_ONCE, queue.length) }, worker));
  for (const [host, entry] of names) {
    const address = found.get(host);
    if (address) return { found: { entry, address }, unchecked: [] };
  }
  return { unchecked: queue.map((host) => names.get(host)!) };
}

/**
 * Refuses the first of `entries` this machine resolves to a private address
 * now, and all of them when the resolver did not get to every name within
 * `totalMs` (10 s): a name not looked up is not judged (THREATS T18).
 *
 * @throws {TypeError} naming the entry, and what to do.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusePrivateNets } from "./net.ts";
 * await assert.rejects(refusePrivateNets(["localhost:80"]), /resolves it to 127\.0\.0\.1/);
 * ```
 */
export async function refusePrivateNets(
  entries: readonly string[],
  options: ResolveOptions & { totalMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const totalMs = options.totalMs ?? NAMES_TOTAL_MS;
  const { found, unchecked } = await firstPrivateAddress(entries, { ...options, totalMs });
  options.signal?.throwIfAborted();
  if (found) {
    throw new TypeError(
      `Cannot grant net "${found.entry}": this machine resolves it to ${found.address}, a loopback, private or local address; pass unsafe.privateNetwork to accept`,
    );
  }
  if (unchecked.length > 0) {
    throw new TypeError(
      `Cannot grant net "${unchecked[0]}" and ${
        unchecked.length - 1
      } more: this machine's resolver did not get to their names within ${totalMs} ms (${entries.length} net grants; each name is looked up to refuse one that resolves to a private address); grant fewer names, or pass unsafe.privateNetwork to skip the check`,
    );
  }
}
