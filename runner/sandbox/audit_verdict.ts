/**
 * Judges one permission check from Deno's audit log against the grants the
 * plugin was started with, by the rules Deno itself applies: a path is
 * granted when it lies within a granted path, a host when its `host:port`
 * or bare `host` is granted, a name when it is listed. Deno 2.9 writes the
 * check, not its outcome, so the verdict is plugbox's, made from the same
 * grants Deno was given.
 * @module
 */

import { normalize, resolve } from "node:path";
import { canonicalNetGrant } from "./net.ts";
import { isWithin } from "./paths.ts";
import type { ResolvedGrants } from "./permissions.ts";
import { neutralize } from "../wire/mod.ts";

/**
 * The kinds of permission Deno 2.9 writes to its audit log. Deno may add
 * more; a kind plugbox does not know is kept, and counted as denied.
 *
 * @example
 * ```ts
 * import { AUDIT_KINDS } from "./audit_verdict.ts";
 * const fileKinds = AUDIT_KINDS.filter((k) => k === "read" || k === "write");
 * ```
 */
export const AUDIT_KINDS = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
] as const;

/** One permission check, judged. */
export interface JudgedCheck {
  /** The permission kind, as Deno names it. */
  kind: string;
  /**
   * What was checked: an absolute path (relative ones are resolved against
   * the plugin's working directory), `host:port`, a variable or sys name;
   * `null` for a check of the whole kind (`Deno.env.toObject()`). Neutralised.
   */
  value: string | null;
  /** Whether the grants allow it. */
  granted: boolean;
}

/** Longest value kept, in characters (Linux paths end at 4096 bytes). */
export const MAX_AUDIT_VALUE = 4096;

// The devices Deno lets through its special-file check with a plain grant.
const SAFE_DEVICES = new Set(["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"]);

const DEFAULT_PORTS: Record<string, string> = {
  "http:": "80",
  "https:": "443",
  "ws:": "80",
  "wss:": "443",
};

/**
 * A `host[:port]` as Deno compares it: a host is an address only when it is one as written (four
 * decimal numbers, or IPv6, which Deno writes bracketed and compressed), else a name, in lower
 * case without a final dot. The URL parser reads `127.1`, `0x7f000001` and `2130706433` as
 * 127.0.0.1, which Deno checks as names, and keeps the final dot Deno drops: judged in the URL's
 * form, the audit said "granted 127.0.0.1" of a connection Deno refused, and "DENIED" of one
 * it made to a host granted as `localhost.` or `[::ffff:127.0.0.1]` (review 123).
 */
function denoNetForm(value: string): string | undefined {
  const canonical = canonicalNetGrant(value);
  if (canonical === undefined) return undefined;
  if (value.startsWith("[")) {
    // Deno reads an IPv4-mapped address as the IPv4 address it maps, on both sides: granted
    // "[::ffff:127.0.0.1]", a connect to 127.0.0.1 was made and audited as denied.
    const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\](.*)$/.exec(canonical);
    if (!mapped) return canonical;
    const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}${mapped[3]}`;
  }
  const colon = value.lastIndexOf(":");
  const [host, port] = colon === -1 ? [value, ""] : [value.slice(0, colon), value.slice(colon)];
  const address = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/.test(host);
  if (address || !/^[\x21-\x7e]+$/.test(host)) return canonical;
  return `${host.toLowerCase().replace(/\.$/, "")}${port}`;
}

/** `host:port` of a net check: Deno writes `host:port`, a bare host, or a URL. */
export function netTarget(value: string): string | undefined {
  if (value.includes("://")) {
    try {
      const url = new URL(value);
      const port = url.port || DEFAULT_PORTS[url.protocol];
      const host = port ? `${url.hostname}:${port}` : url.hostname;
      return host ? denoNetForm(host) : undefined;
    } catch {
      return undefined;
    }
  }
  return denoNetForm(value);
}

function judgePath(
  kind: "read" | "write" | "ffi",
  value: string,
  grants: ResolvedGrants,
  cwd: string,
) {
  if (value === "<TMP>") {
    // Deno's name for the temporary folder: the plugin's environment sets no TMPDIR.
    return { value, granted: grants[kind].some((g) => isWithin("/tmp", g)) };
  }
  const path = normalize(resolve(cwd, value));
  const within = grants[kind].some((g) => isWithin(path, g));
  // Deno asks for every permission before a plain grant reaches /proc, /dev
  // and /sys, except four harmless devices and a process's own pipes
  // (/proc/self/fd/N, /dev/fd/N), which plugbox cannot tell from files: it
  // counts them as granted when a grant covers them, over-reporting rather
  // than hiding access.
  const special = Deno.build.os === "linux" &&
    ["/proc", "/dev", "/sys"].some((root) => isWithin(path, root)) &&
    !SAFE_DEVICES.has(path) &&
    !/^\/(proc\/self|dev)\/fd\/\d+$/.test(path);
  return { value: path, granted: within && !special };
}

function judgeNet(value: string, grants: ResolvedGrants) {
  const target = netTarget(value);
  if (target === undefined) return { value, granted: false };
  const host = target.replace(/:\d+$/, "");
  // The grants in Deno's form too: Deno reads a grant of `localhost.` as `localhost`.
  const net = grants.net.map((grant) => denoNetForm(grant) ?? grant);
  return { value: target, granted: net.includes(target) || net.includes(host) };
}

/**
 * Judges one check from Deno's audit log against the grants, by Deno's
 * rules. `all`, `run` and `ffi` grants are never combined with an audit
 * (plugbox refuses them), so they are not consulted beyond their lists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeCheck } from "./audit_verdict.ts";
 * const grants = {
 *   read: ["/srv/docs"], write: [], net: ["example.com:443"], env: { TOKEN: "x" },
 *   sys: [], run: [], ffi: [], all: false,
 * };
 * assert.deepEqual(judgeCheck("read", "a.md", grants, "/srv/docs"),
 *   { kind: "read", value: "/srv/docs/a.md", granted: true });
 * assert.equal(judgeCheck("net", "https://example.com/x", grants, "/").granted, true);
 * assert.equal(judgeCheck("env", "HOME", grants, "/").granted, false);
 * ```
 */
export function judgeCheck(
  kind: string,
  value: string | null,
  grants: ResolvedGrants,
  cwd: string,
): JudgedCheck {
  const safeKind = neutralize(kind, 32);
  if (value === null) return { kind: safeKind, value: null, granted: grants.all };
  const bounded = value.slice(0, MAX_AUDIT_VALUE);
  let judged: { value: string; granted: boolean };
  switch (kind) {
    case "read":
    case "write":
    case "ffi":
      judged = judgePath(kind, bounded, grants, cwd);
      break;
    case "net":
      judged = judgeNet(bounded, grants);
      break;
    case "env":
      judged = { value: bounded, granted: Object.hasOwn(grants.env, bounded) };
      break;
    case "sys":
    case "run":
      judged = { value: bounded, granted: grants[kind].includes(bounded) };
      break;
    default:
      // `import` (plugbox runs with --no-remote) and kinds plugbox does not know.
      judged = { value: bounded, granted: false };
  }
  return {
    kind: safeKind,
    value: neutralize(judged.value, MAX_AUDIT_VALUE),
    granted: judged.granted || grants.all,
  };
}
