/**
 * The head of one request to the egress proxy, read with a byte cap and
 * parsed strictly: `CONNECT host:port` (a tunnel) or an absolute-form plain
 * http request, which is rewritten to origin form with `connection: close`
 * so one connection carries one checked destination. Everything in it is
 * the plugin's: nothing is echoed back unbounded.
 * @module
 */

import { canonicalNetGrant } from "../sandbox/mod.ts";

/** A request the proxy may check: its destination and the bytes to send there first. */
export interface ProxyRequest {
  method: string;
  /** The destination host, in a net grant's canonical form (`canonicalNetGrant`; IPv6 in brackets). */
  host: string;
  port: number;
  /** For plain http: the rewritten head and any body bytes already read; for CONNECT: early bytes. */
  forward: Uint8Array;
}

/** A request refused before any destination is looked at. */
export interface RefusedRequest {
  refused: string;
  status: number;
}

// Host too: the proxy names the destination it checked itself, so a server that answers for
// many names answers for the granted one (a plugin's own Host was domain fronting: review 84).
const HOP_BY_HOP = /^(proxy-authorization|proxy-connection|connection|keep-alive|host)$/i;

/** Bytes as a string of the same length, one character per byte. */
function binary(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return text;
}

/** Where `\r\n\r\n` ends in `bytes[from, to)`, searched from `from`; -1 if it does not. */
function headEnd(bytes: Uint8Array, from: number, to: number): number {
  for (let i = Math.max(from, 3); i < to; i++) {
    if (
      bytes[i] === 0x0a && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d
    ) {
      return i + 1;
    }
  }
  return -1;
}

async function readHead(conn: Deno.Conn, limit: number) {
  const buffer = new Uint8Array(limit);
  let size = 0;
  while (size < limit) {
    const n = await conn.read(buffer.subarray(size));
    if (n === null) return undefined;
    // Only the new bytes are searched (and the three before them), and the head is turned into
    // text once: a head dripped a byte per read cost the host quadratic time (review 33).
    const end = headEnd(buffer, size, size + n);
    size += n;
    if (end !== -1) {
      return {
        head: binary(buffer.subarray(0, end - 4)),
        rest: buffer.slice(end, size),
      };
    }
  }
  return undefined;
}

/** Host and port of `host:port` or a URL's authority, canonical; undefined when malformed. */
function destination(authority: string, defaultPort?: number) {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:/@\s]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!match) return undefined;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port === undefined || port < 1 || port > 65535) return undefined;
  // The grants' own canonical form (sandbox/net.ts), so a request matches a rule exactly when
  // Deno would have matched it against the grant: one spelling of a host, computed one way.
  const host = canonicalNetGrant(match[1]);
  return host ? { host, port } : undefined;
}

/** Reads and checks one request head; `token`, when set, must come as the proxy credential. */
export async function parseProxyRequest(
  conn: Deno.Conn,
  limit: number,
  token?: string,
): Promise<ProxyRequest | RefusedRequest> {
  const read = await readHead(conn, limit);
  if (!read) return { refused: `no request head within ${limit} bytes`, status: 400 };
  const [line, ...headers] = read.head.split("\r\n");
  const match = /^([A-Z]{1,16}) (\S{1,8192}) HTTP\/1\.[01]$/.exec(line);
  if (!match) return { refused: "a malformed request line", status: 400 };
  const [, method, target] = match;
  if (token !== undefined) {
    const expected = `basic ${btoa(`plugbox:${token}`)}`.toLowerCase();
    const given = headers.find((h) => /^proxy-authorization:/i.test(h))?.slice(20).trim();
    if (given?.toLowerCase() !== expected) {
      return { refused: "no valid proxy credential", status: 407 };
    }
  }
  if (method === "CONNECT") {
    const to = destination(target);
    if (!to) return { refused: "CONNECT needs host:port", status: 400 };
    return { method, ...to, forward: read.rest };
  }
  if (!target.startsWith("http://")) {
    return { refused: "only CONNECT and absolute http:// requests are proxied", status: 400 };
  }
  const authority = target.slice(7).split(/[/?#]/, 1)[0];
  const to = destination(authority, 80);
  if (!to) return { refused: "a malformed request target", status: 400 };
  // A bare CR or LF, or a folded line, is a header line to a lenient server and not to this
  // parser: one could carry a second Host past the one the proxy sets (review 84).
  if (headers.some((h) => /[\r\n\0]/.test(h) || /^[ \t]/.test(h))) {
    return { refused: "a malformed request head", status: 400 };
  }
  const path = target.slice(7 + authority.length) || "/";
  const kept = headers.filter((h) => !HOP_BY_HOP.test(h.split(":", 1)[0].trim()));
  const host = to.port === 80 ? to.host : `${to.host}:${to.port}`;
  const head = [`${method} ${path} HTTP/1.1`, `host: ${host}`, ...kept, "connection: close", "", ""]
    .join("\r\n");
  const bytes = Uint8Array.from(head, (ch) => ch.charCodeAt(0) & 0xff);
  const forward = new Uint8Array(bytes.length + read.rest.length);
  forward.set(bytes);
  forward.set(read.rest, bytes.length);
  return { method, ...to, forward };
}
