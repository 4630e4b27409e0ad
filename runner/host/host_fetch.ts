/**
 * `hostFetch`: the built-in `fetch` capability. A plugin with no `net` and
 * no `env` grant asks the host to fetch; the host checks the URL against
 * its allow-list, resolves the name and refuses loopback, private,
 * link-local, metadata and its own addresses (unless acknowledged), adds
 * each secret only for the destinations it is bound to, caps request and
 * response bytes, applies a deadline, and logs every request per plugin.
 * @module
 */

import type {
  CapabilityContext,
  HostFetchRequestData,
  HostFetchResponseData,
} from "../contract.ts";
import { CapabilityError } from "../errors.ts";
import {
  boundedResolver,
  checkDestination,
  isLoopback,
  ownAddresses,
  systemResolve,
} from "./egress_check.ts";
import { canonicalDestination, type HostSecret, SecretBinding } from "./fetch_secrets.ts";
import { FetchLog, type FetchLogEntry } from "./fetch_log.ts";
import { checkCount, checkFunctions, checkMs } from "./check_options.ts";
import { Slots } from "./slots.ts";
import { readCapped } from "./fetch_body.ts";
import {
  mayHideNoProxy,
  noProxyUnhidable,
  type PinnedClient,
  pinnedClient,
} from "./pinned_client.ts";
import { neutralize, utf8Length } from "../wire/mod.ts";

/**
 * Options for {@linkcode hostFetch}.
 *
 * @example
 * ```ts
 * import type { HostFetchOptions } from "./host_fetch.ts";
 * const options: HostFetchOptions = {
 *   allow: ["api.example.com:443"],
 *   secrets: { API_TOKEN: { value: "s3cr3t-token", hosts: ["api.example.com:443"] } },
 * };
 * ```
 */
export interface HostFetchOptions {
  /** The `host:port` destinations the plugin may reach; nothing else. */
  allow: string[];
  /** Secrets by name, each bound to destinations and sent there as a header. */
  secrets?: Record<string, HostSecret>;
  /**
   * `privateNetwork`: allow loopback, private and link-local addresses (a local server, a test).
   * `plainHttpSecrets`: send secrets in plain http past loopback too, in the clear on the
   * network; without it a secret goes in plain http only to a loopback address (never to port 443).
   */
  unsafe?: { privateNetwork?: boolean; plainHttpSecrets?: boolean };
  /**
   * Most bytes of a request body. The body travels in the plugin's
   * capability call, JSON-escaped: above about 1.5 MiB, raise the plugin's
   * `maxCapabilityBytes` (2 MiB) with it. An integer from 0 to 256 MiB.
   * @default {1 MiB}
   */
  maxRequestBytes?: number;
  /**
   * Most bytes of a response body, as read and as JSON in the answer to the
   * plugin (a control character is 6 bytes there); a longer one fails the
   * request. An integer from 0 to 256 MiB.
   * @default {4 MiB}
   */
  maxResponseBytes?: number;
  /**
   * Requests of one plugin at once; more wait their turn. Each holds up to
   * `maxResponseBytes` a few times over while it is answered.
   * @default {8}
   */
  maxConcurrent?: number;
  /**
   * Deadline of one request (resolving, connecting, the whole body), in ms.
   * @default {30000}
   */
  timeout?: number;
  /** Resolves names (the host's resolver by default); every address it gives is checked. */
  resolve?: (hostname: string) => Promise<string[]>;
  /** Told about each request, allowed or refused. */
  onRequest?: (entry: FetchLogEntry) => void;
}

/**
 * The `fetch` capability's implementation, with its log.
 *
 * @example
 * ```ts ignore
 * const fetcher: HostFetch = hostFetch({ allow: ["api.example.com:443"] });
 * for (const entry of fetcher.log("weather")) console.log(entry.verdict, entry.url);
 * ```
 */
export interface HostFetch {
  (request: HostFetchRequestData, context: CapabilityContext): Promise<HostFetchResponseData>;
  /** The requests of one plugin (or all), oldest first: the newest 256 of each plugin. */
  log(plugin?: string): FetchLogEntry[];
  /** How many of one plugin's (or all plugins') requests the log's bound has dropped. */
  dropped(plugin?: string): number;
  /**
   * Drops one plugin's log and count, for a name the host is done with
   * (`PluginHost.remove`): the log keeps the newest 256 requests of every name it has seen.
   * Its requests still under way then whose call is over (a lookup outlives the plugin's
   * process) are told to `onRequest` when they end, and not logged; those of a plugin of the
   * name still running are logged.
   */
  forget(plugin: string): void;
}

/**
 * The most `maxRequestBytes` and `maxResponseBytes` may be: 256 MiB. A body
 * travels as one JSON string, which V8 holds to about 512 Mi characters.
 */
const MAX_FETCH_BYTES = 256 * 1024 * 1024;

/** One plugin's lookups running at once: as many as its capability calls that run at once. */
const LOOKUPS = 64;

const DROPPED_HEADERS = new Set(["host", "proxy-authorization", "connection", "cookie"]);

/**
 * Makes the built-in `fetch` capability: pass it as the implementation of a
 * capability declared with `hostFetchCapability`.
 *
 * @example
 * ```ts ignore
 * import { hostFetch, provide, startPlugin } from "@plugbox/plugbox";
 * import { Weather } from "./plugins/weather/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/weather/main.ts", {
 *   contracts: [Weather],
 *   capabilities: [provide(Weather, {
 *     fetch: hostFetch({
 *       allow: ["api.example.com:443"],
 *       secrets: { API_TOKEN: { value: Deno.env.get("API_TOKEN")!, hosts: ["api.example.com:443"] } },
 *     }),
 *   })],
 * });
 * ```
 * @throws {TypeError} for a malformed allow-list, secret or limit, or a host
 * that may not connect to 127.0.0.1 or a destination allowed.
 */
export function hostFetch(options: HostFetchOptions): HostFetch {
  if (!Array.isArray(options?.allow)) {
    throw new TypeError(`Cannot make hostFetch: "allow" must list host:port destinations`);
  }
  const allowed = new Set(
    options.allow.map((a) => canonicalDestination(a, "Cannot make hostFetch")),
  );
  // Said now: a `resolve` of 5 failed each request as if its destination had, and an `onRequest`
  // of 5 was a listener's fault, swallowed (review 145's left item).
  checkFunctions(options, ["resolve", "onRequest"]);
  const secrets = new SecretBinding(options.secrets ?? {});
  // Checked (review 145): a cap of Infinity or 1e15 was none (a server's body was read whole
  // into the host's memory), one of NaN failed every response with a body as "the response broke
  // off", and one of -1 refused every body as "over -1 bytes".
  const limits = {
    request: checkCount("maxRequestBytes", options.maxRequestBytes, 0, MAX_FETCH_BYTES) ??
      1024 * 1024,
    response: checkCount("maxResponseBytes", options.maxResponseBytes, 0, MAX_FETCH_BYTES) ??
      4 * 1024 * 1024,
    timeout: checkMs("timeout", options.timeout, 1) ?? 30_000,
    concurrent: checkCount("maxConcurrent", options.maxConcurrent, 1, 1024) ?? 8,
  };
  const rules = [...allowed].map((d) => {
    const at = d.lastIndexOf(":");
    return { host: d.slice(0, at), port: Number(d.slice(at + 1)) };
  });
  const plan = {
    mode: "port" as const,
    rules,
    privateNetwork: options.unsafe?.privateNetwork === true,
  };
  const resolve = options.resolve ?? systemResolve;
  if (!plan.privateNetwork && !canListInterfaces()) {
    throw new TypeError(
      `Cannot make hostFetch: refusing the host's own addresses needs --allow-sys=networkInterfaces (or "unsafe.privateNetwork")`,
    );
  }
  // Deno's fetch would skip the per-request proxy for what NO_PROXY lists (review 84).
  if (!mayHideNoProxy()) {
    throw new TypeError(
      `Cannot make hostFetch: keeping the host's NO_PROXY from sending requests past the per-request ` +
        `proxy needs --allow-env=NO_PROXY,no_proxy`,
    );
  }
  const unhidable = noProxyUnhidable();
  if (unhidable) throw new TypeError(`Cannot make hostFetch: ${unhidable}`);
  // Said now, by name: without it every request would fail as if its destination had (review 38).
  const unreachable = ["127.0.0.1", ...allowed].find((host) => !mayConnect(host));
  if (unreachable) {
    throw new TypeError(
      `Cannot make hostFetch: the host may not connect to ${unreachable}: it needs --allow-net for ` +
        `127.0.0.1 (the per-request proxy) and each destination allowed`,
    );
  }
  const log = new FetchLog(options.onRequest);
  // What is held of each plugin name while anything of it is under way (NameState).
  const names = new Map<string, NameState>();
  const stateOf = (plugin: string) => {
    let state = names.get(plugin);
    if (!state) names.set(plugin, state = new NameState(limits.concurrent));
    return state;
  };
  const dropIfIdle = (plugin: string, state: NameState) => {
    if (state.idle && names.get(plugin) === state) names.delete(plugin);
  };
  const fetcher = async (
    request: HostFetchRequestData,
    context: CapabilityContext,
  ) => {
    const entry = { plugin: context.plugin, method: request.method, url: "", host: "", port: 0 };
    const named = stateOf(context.plugin);
    const mine = new UnderWay(context.signal);
    named.requests.add(mine);
    const record = (done: Omit<FetchLogEntry, "time">) => log.add(done, !mine.forgotten);
    // Made at the name's first lookup (a request to an address makes none), and kept while any
    // of its lookups runs: one given up on at its deadline settles after its request (review 151).
    const lookup = (hostname: string) =>
      (named.lookup ??= boundedResolver(
        resolve,
        LOOKUPS,
        () => dropIfIdle(context.plugin, named),
      ))(hostname);
    try {
      const url = parseUrl(request.url);
      // The host bounded as the URL is: a name of 8 KiB is the plugin's to send (review 111).
      const host = neutralize(url.hostname, 255);
      Object.assign(entry, { url: neutralize(url.href, 500), host, port: port(url) });
      const destination = `${url.hostname}:${port(url)}`;
      if (!allowed.has(destination)) {
        throw refused(`${neutralize(destination, 300)} is not allowed`);
      }
      const verdict = await checkDestination({ host: url.hostname, port: port(url) }, {
        plan,
        resolve: lookup,
        own: plan.privateNetwork ? new Set<string>() : ownAddresses(),
      });
      if ("refused" in verdict) throw refused(verdict.refused);
      // The proxy connects to the address, which a grant of the name does not cover (review 40).
      const address = verdict.address.includes(":") ? `[${verdict.address}]` : verdict.address;
      if (!mayConnect(`${address}:${port(url)}`)) {
        throw new CapabilityError(
          `the host lacks --allow-net for the address ${entry.host}:${entry.port} resolves to`,
          { code: "failed" },
        );
      }
      const reserved = secrets.headersFor(destination);
      const clear = reserved.size > 0
        ? inTheClear(url, verdict.address, options.unsafe?.plainHttpSecrets === true)
        : undefined;
      if (clear) throw refused(clear);
      const headers = buildHeaders(request.headers ?? {}, reserved);
      const used = secrets.inject(headers, destination);
      const body = request.body;
      if (body !== undefined && utf8Length(body) > limits.request) {
        throw new CapabilityError(`request body over ${limits.request} bytes`, {
          code: "too-large",
        });
      }
      // One plugin's bodies at once, bounded: 64 calls in flight of 4 MiB bodies of control
      // characters held 769 MiB of the host at once, each escaped to 24 MiB (review 111).
      await named.line.acquire(context.signal)?.catch(() => {
        throw new CapabilityError("cancelled", { code: "cancelled" });
      });
      let response: Awaited<ReturnType<typeof send>>;
      let text: string;
      try {
        response = await send(url, request.method, headers, body, context.signal, {
          ...limits,
          pinned: pinnedClient(verdict.address, plan, context.plugin),
        });
        text = secrets.redact(response.text);
        if (jsonLength(text) > limits.response) {
          throw new CapabilityError(
            `response body over ${limits.response} bytes as JSON (a control character is 6)`,
            { code: "too-large" },
          );
        }
      } finally {
        named.line.release();
      }
      record({
        ...entry,
        address: verdict.address,
        verdict: "allowed",
        status: response.status,
        secrets: used,
      });
      return {
        status: response.status,
        statusText: secrets.redact(response.statusText),
        // Names too: a server the plugin controls may echo the secret as one (review 84).
        headers: Object.fromEntries(
          [...response.headers].map(([k, v]) => [secrets.redact(k), secrets.redact(v)]),
        ),
        body: text,
        url: neutralize(url.href, 8192),
      };
    } catch (error) {
      const reason = error instanceof CapabilityError
        ? error.message
        : error instanceof Deno.errors.NotCapable
        ? `the host may not connect: ${neutralize(error.message, 300)}`
        : "request failed";
      const before = error instanceof CapabilityError &&
        (error.code === "refused" || error.code === "bad-request");
      const verdict = before ? "refused" : "failed";
      record({ ...entry, verdict, reason, secrets: [] });
      if (error instanceof CapabilityError) throw error;
      throw new CapabilityError(`request to ${entry.host}:${entry.port} failed`, {
        code: "failed",
      });
    } finally {
      named.requests.delete(mine);
      dropIfIdle(context.plugin, named);
    }
  };
  return Object.assign(fetcher, {
    log: (plugin?: string) => log.entries(plugin),
    dropped: (plugin?: string) => log.dropped(plugin),
    forget: (plugin: string) => {
      // Cut off from the log: the name's requests under way whose call is over (their plugin is
      // gone). One whose lookup outlived the plugin's removal was logged after the name was
      // forgotten, into the log of the next plugin of that name (review 155); one of that next
      // plugin, under way as the name was forgotten, is its own, and logged.
      for (const request of names.get(plugin)?.requests ?? []) {
        if (request.signal.aborted) request.forgotten = true;
      }
      log.forget(plugin);
    },
  });
}

/** A request under way: its call's signal, and whether `forget` cut it off from the log. */
class UnderWay {
  forgotten = false;
  constructor(readonly signal: AbortSignal) {}
}

/**
 * What `hostFetch` holds of one plugin name while anything of it is under way: its requests
 * (`maxConcurrent` at once, the rest waiting in `line`, abortably), its lookups (counted until
 * each settles: one given up on at its deadline still holds a host thread, review 127), and
 * its requests under way (for `forget`). Dropped once none runs: kept per name, they grew with
 * every name a long-lived host ever started (review 138's lead).
 */
class NameState {
  readonly requests = new Set<UnderWay>();
  readonly line: Slots;
  lookup: ReturnType<typeof boundedResolver> | undefined;

  constructor(concurrent: number) {
    this.line = new Slots(concurrent);
  }

  /** Whether nothing of the name is under way: every request has ended (and so left its line), and every lookup has settled. */
  get idle(): boolean {
    return this.requests.size === 0 && !this.lookup?.running;
  }
}

/** Whether this process may connect to `host` (`host:port`, or every port) without a prompt. */
function mayConnect(host: string): boolean {
  return Deno.permissions.querySync({ name: "net", host }).state === "granted";
}

function canListInterfaces(): boolean {
  return Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state ===
    "granted";
}

function refused(reason: string): CapabilityError {
  return new CapabilityError(`refused: ${reason}`, { code: "refused" });
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CapabilityError(`not a URL: ${neutralize(text, 200)}`, { code: "bad-request" });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CapabilityError(`only http and https URLs, not ${neutralize(url.protocol, 20)}`, {
      code: "bad-request",
    });
  }
  if (url.username || url.password) {
    throw new CapabilityError("URLs with credentials are refused", { code: "bad-request" });
  }
  return url;
}

function unreachable(url: URL, pinned: PinnedClient): CapabilityError {
  // The proxy refuses a destination its check fails, or says it could not connect (a 502).
  const refusal = pinned.refusal()?.reason;
  if (refusal && !refusal.startsWith("cannot connect")) return refused(refusal);
  return new CapabilityError(`could not reach ${neutralize(url.host, 300)}`, {
    code: "unreachable",
  });
}

/**
 * Why a secret may not go in this request, or undefined. A binding names host and port, not
 * scheme: a plain http request crosses the network in the clear, to port 443 (review 84) or to
 * any other a TLS server listens on, 8443 or 6443 (review 111). Loopback crosses no network.
 */
function inTheClear(url: URL, address: string, acknowledged: boolean): string | undefined {
  if (url.protocol !== "http:") return undefined;
  if (port(url) === 443) return `plain http to port 443 would send a secret in the clear`;
  if (acknowledged || isLoopback(address)) return undefined;
  return `plain http to ${neutralize(address, 64)} would send a secret in the clear on the ` +
    `network (https, or "unsafe.plainHttpSecrets")`;
}

/**
 * The bytes `text` takes as a JSON string's contents, as `JSON.stringify` writes it: a control
 * character 6 (`\u0001`; 2 for `\n` and its kind), `"` and `\` 2, a lone surrogate 6, the rest
 * its UTF-8.
 */
function jsonLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20) bytes += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
    else if (c === 0x22 || c === 0x5c) bytes += 2;
    else if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += c >= 0xd800 && c <= 0xdfff ? 6 : 3;
  }
  return bytes;
}

function port(url: URL): number {
  return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

function buildHeaders(given: Record<string, string>, reserved: Set<string>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(given)) {
    const lower = name.toLowerCase();
    if (DROPPED_HEADERS.has(lower) || reserved.has(lower)) continue;
    try {
      headers.set(lower, value);
    } catch {
      throw new CapabilityError(`header "${neutralize(name, 64)}" has an invalid value`, {
        code: "bad-request",
      });
    }
  }
  return headers;
}

/** What one request may take: the response's bytes, its deadline, and its pinned client. */
type SendLimits = { response: number; timeout: number; pinned: PinnedClient };

/** A response as the plugin gets it, before the secrets are cut out. */
type Sent = { status: number; statusText: string; headers: Headers; text: string };

/** Sends one request through its pinned client, which is closed afterwards whatever happens. */
async function send(
  url: URL,
  method: string,
  headers: Headers,
  body: string | undefined,
  signal: AbortSignal,
  limits: SendLimits,
): Promise<Sent> {
  try {
    return await sendPinned(url, method, headers, body, signal, limits);
  } finally {
    await limits.pinned.close();
  }
}

/** Sends through the pinned client: the connection goes to the checked address only. */
async function sendPinned(
  url: URL,
  method: string,
  headers: Headers,
  body: string | undefined,
  signal: AbortSignal,
  limits: SendLimits,
): Promise<Sent> {
  const client = limits.pinned.client;
  const deadline = AbortSignal.timeout(limits.timeout);
  const both = AbortSignal.any([signal, deadline]);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body,
      redirect: "manual",
      signal: both,
      client,
    });
  } catch {
    if (deadline.aborted) {
      throw new CapabilityError(`no answer within ${limits.timeout} ms`, { code: "timeout" });
    }
    if (signal.aborted) throw new CapabilityError("cancelled", { code: "cancelled" });
    throw unreachable(url, limits.pinned);
  }
  // A plain-http refusal is the proxy's own answer, not the server's: never pass it off as one.
  if (limits.pinned.refusal()) {
    await response.body?.cancel();
    throw unreachable(url, limits.pinned);
  }
  // A deadline that passes while the body is read is a timeout, as it is before the headers.
  const text = await readCapped(response, limits.response, both, {
    signal: deadline,
    ms: limits.timeout,
  });
  return {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    text,
  };
}
