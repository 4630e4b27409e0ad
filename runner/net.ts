/**
 * Classifies net grants: a grant that reaches the host's own machine or its
 * private network needs an explicit acknowledgement (THREATS T8).
 * @module
 */

const LOCAL_NAMES = /(^|\.)(localhost|local|internal|home\.arpa|lan)\.?$/i;

function hostOf(entry: string): string {
  if (entry.startsWith("[")) return entry.slice(1, entry.indexOf("]"));
  const colon = entry.lastIndexOf(":");
  return colon === -1 ? entry : entry.slice(0, colon);
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

function privateV6(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === "::" || lower === "::1" || /^0*:(0*:)*0*1?$/.test(lower)) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) {
    const v4 = parseV4(mapped[1]);
    return v4 === undefined || privateV4(v4);
  }
  const first = parseInt(lower.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (first & 0xffc0) === 0xfe80 || // fe80::/10 link local
    (first & 0xff00) === 0xff00; // multicast
}

/**
 * True when a net grant (`host` or `host:port`) names the local machine, a
 * private or link-local range, or a name that only resolves locally. Numeric
 * hosts that are not a plain dotted quad count as private, since resolvers
 * read `127.1` as loopback.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPrivateHost } from "./net.ts";
 * assert.ok(isPrivateHost("127.0.0.1:8080") && !isPrivateHost("example.com:443"));
 * ```
 */
export function isPrivateHost(entry: string): boolean {
  const host = hostOf(entry);
  if (host.includes(":")) return privateV6(host);
  if (LOCAL_NAMES.test(host)) return true;
  if (/^[\d.]+$/.test(host)) {
    const v4 = parseV4(host.replace(/\.$/, ""));
    return v4 === undefined || privateV4(v4);
  }
  return false;
}
