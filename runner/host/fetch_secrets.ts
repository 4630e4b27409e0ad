/**
 * Secrets held by the host for `hostFetch`: each is bound to the
 * destinations it may be sent to and injected there as a header; the
 * plugin never holds one, and every value is cut out of what the plugin
 * gets back (a server that echoes its request cannot hand the token over).
 * @module
 */

/**
 * One secret: its value, the `host:port` destinations it is sent to, and
 * how (a header, with a prefix).
 *
 * @example
 * ```ts
 * import type { HostSecret } from "./fetch_secrets.ts";
 * const token: HostSecret = {
 *   value: "s3cr3t-token",
 *   hosts: ["api.example.com:443"],
 *   header: "authorization",
 *   prefix: "Bearer ",
 * };
 * ```
 */
export interface HostSecret {
  /** The secret itself; it never reaches the plugin. */
  value: string;
  /** The `host:port` destinations it is sent to; to no other. */
  hosts: string[];
  /**
   * The request header it goes in (replacing any the plugin set).
   * @default {"authorization"}
   */
  header?: string;
  /**
   * Put before the value in the header.
   * @default {"Bearer "}
   */
  prefix?: string;
}

/** A `host:port` in the one canonical form the request URL is compared in. */
export function canonicalDestination(entry: string, what: string): string {
  let url: URL;
  try {
    url = new URL(`http://${entry}`);
  } catch {
    throw new TypeError(`${what}: "${entry}" is not a host:port`);
  }
  if (!/:\d+$/.test(entry) || url.pathname !== "/" || url.username || url.search || url.hash) {
    throw new TypeError(
      `${what}: "${entry}" must be a host and a port, like "api.example.com:443"`,
    );
  }
  return `${url.hostname}:${url.port || "80"}`;
}

interface BoundSecret {
  name: string;
  header: string;
  text: string;
  value: string;
  hosts: Set<string>;
}

/** The host's secrets, checked once, bound to their destinations. */
export class SecretBinding {
  #secrets: BoundSecret[] = [];

  constructor(secrets: Record<string, HostSecret>) {
    for (const [name, secret] of Object.entries(secrets)) {
      const what = `Cannot use secret "${name}" in hostFetch`;
      // Headers trim HTTP whitespace: the value a server gets, and may echo, is the trimmed one
      // (a token read from a file ends in a newline; review 84).
      const value = typeof secret?.value === "string" ? trimHttp(secret.value) : undefined;
      if (value === undefined || value.length < 4) {
        throw new TypeError(`${what}: "value" must be a string of at least 4 characters`);
      }
      // A byte past ASCII that a server echoes comes back decoded as U+FFFD, where the cut
      // cannot find the value: every other character of it would reach the plugin (review 84).
      if (!/^[\x20-\x7e]+$/.test(value)) {
        throw new TypeError(`${what}: "value" must be printable ASCII`);
      }
      const header = (secret.header ?? "authorization").toLowerCase();
      const text = `${secret.prefix ?? "Bearer "}${secret.value}`;
      try {
        new Headers([[header, text]]);
      } catch {
        throw new TypeError(`${what}: it cannot be sent in header "${header}"`);
      }
      if (!Array.isArray(secret.hosts) || secret.hosts.length === 0) {
        throw new TypeError(`${what}: "hosts" must list the host:port it is sent to`);
      }
      const hosts = new Set(secret.hosts.map((h) => canonicalDestination(h, what)));
      this.#secrets.push({ name, header, text, value, hosts });
    }
  }

  /** Sets the secrets bound to `destination` in `headers`; returns their names. */
  inject(headers: Headers, destination: string): string[] {
    const used: string[] = [];
    for (const secret of this.#secrets) {
      if (!secret.hosts.has(destination)) continue;
      headers.set(secret.header, secret.text);
      used.push(secret.name);
    }
    return used;
  }

  /** The names of headers some secret goes in (the plugin may not set them for bound hosts). */
  headersFor(destination: string): Set<string> {
    return new Set(this.#secrets.filter((s) => s.hosts.has(destination)).map((s) => s.header));
  }

  /**
   * `text` with every secret's value replaced by `[secret NAME]`. Every value is found in the
   * text as given and overlapping finds are cut as one: cutting one value first could break
   * another that holds or overlaps it, leaving the rest of it in the text (review 84).
   */
  redact(text: string): string {
    const cuts: { from: number; to: number; name: string }[] = [];
    for (const secret of this.#secrets) {
      for (
        let at = text.indexOf(secret.value);
        at !== -1;
        at = text.indexOf(secret.value, at + secret.value.length)
      ) {
        cuts.push({ from: at, to: at + secret.value.length, name: secret.name });
      }
    }
    if (cuts.length === 0) return text;
    cuts.sort((a, b) => a.from - b.from || b.to - a.to);
    let out = "";
    let done = 0;
    for (const cut of cuts) {
      if (cut.to <= done) continue;
      out += cut.from >= done ? `${text.slice(done, cut.from)}[secret ${cut.name}]` : "";
      done = cut.to;
    }
    return out + text.slice(done);
  }
}

/** `text` without leading and trailing HTTP whitespace, as a header value is sent. */
function trimHttp(text: string): string {
  return text.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
}
