/**
 * A JSR-like registry and an npm registry on 127.0.0.1, over TLS with a CA
 * made for the test, so install paths are tested as users meet them with no
 * network beyond loopback. `deno publish` uploads the real tarball to it
 * (files laid out and specifiers unfurled as JSR receives them); it serves
 * them back the way JSR does: `meta.json`, `<version>_meta.json` with each
 * file's checksum, and the files under `/@scope/name/version/`. npm packages
 * are packed from the local Deno cache.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../", import.meta.url));

async function sh(command: string, args: string[], options: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  })
    .output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  }
  return { stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/**
 * A CA and a certificate for 127.0.0.1 signed by it, made with openssl. P-256 keys: two of them
 * take some 15 ms to make, two RSA keys 0.3-0.7 s here.
 */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const p = (name: string) => join(dir, name);
  await sh("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=plugbox test CA",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
  ]);
  await Deno.writeTextFile(p("leaf.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await sh("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    p("leaf.key"),
    "-out",
    p("leaf.csr"),
  ]);
  await sh("openssl", [
    "x509",
    "-req",
    "-in",
    p("leaf.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    p("leaf.ext"),
    "-out",
    p("leaf.pem"),
  ]);
  return { ca: p("ca.pem"), cert: p("leaf.pem"), key: p("leaf.key") };
}

/** Files of a ustar (or GNU) tar archive, by path. */
function untar(bytes: Uint8Array): Map<string, Uint8Array<ArrayBuffer>> {
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const text = (from: number, length: number) =>
    new TextDecoder().decode(bytes.subarray(from, from + length)).replace(/\0.*$/s, "");
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= bytes.length && bytes[offset] !== 0) {
    const size = parseInt(text(offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(bytes[offset + 156]);
    const prefix = text(offset + 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100));
    const body = bytes.slice(offset + 512, offset + 512 + size);
    longName = undefined;
    if (type === "L") longName = new TextDecoder().decode(body).replace(/\0.*$/s, "");
    else if (type === "0" || type === "\0") files.set(`/${name.replace(/^\.?\//, "")}`, body);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sha = (algorithm: string, bytes: Uint8Array) => createHash(algorithm).update(bytes);

interface NpmPackage {
  version: string;
  tarball: Uint8Array<ArrayBuffer>;
  /** Its package.json. */
  manifest: Record<string, unknown>;
}

/** One request the registry answered: method, path and when. */
export interface RegistryRequest {
  method: string;
  path: string;
  at: number;
}

/** The registry: JSR's layout and API under `/`, npm under `/npm/`. */
export class LocalRegistry implements AsyncDisposable {
  /** `https://127.0.0.1:<port>/`, for `JSR_URL`. */
  readonly url: string;
  /** The CA file Deno must trust (`DENO_CERT`). */
  readonly ca: string;
  /** Every request answered, in order. */
  readonly requests: RegistryRequest[] = [];
  /** Published packages: `@scope/name@version` to their files. */
  readonly published = new Map<string, Map<string, Uint8Array<ArrayBuffer>>>();
  #npm = new Map<string, NpmPackage>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #dir: string;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, ca: string, dir: string) {
    this.#server = server;
    this.url = `https://127.0.0.1:${server.addr.port}/`;
    this.ca = ca;
    this.#dir = dir;
  }

  /** Starts a registry with a fresh CA. */
  static async start(): Promise<LocalRegistry> {
    const dir = await Deno.makeTempDir({ prefix: "plugbox-registry-" });
    const { ca, cert, key } = await makeCertificates(dir);
    const ref: { registry?: LocalRegistry } = {};
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(cert),
      key: await Deno.readTextFile(key),
      onListen() {},
    }, (request) => ref.registry!.#handle(request));
    ref.registry = new LocalRegistry(server, ca, dir);
    return ref.registry;
  }

  /** The environment a Deno process needs to use only this registry, and nothing else off the machine. */
  env(denoDir: string): Record<string, string> {
    return {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      DENO_DIR: denoDir,
      DENO_CERT: this.ca,
      JSR_URL: this.url,
      NPM_CONFIG_REGISTRY: `${this.url}npm/`,
      // Anything not on loopback goes to a closed port and fails.
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
      NO_PROXY: "127.0.0.1,localhost",
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
    };
  }

  /** Offers an npm package from this machine's Deno cache, packed as npm packs it. */
  async addNpmFromCache(name: string, version: string): Promise<void> {
    const info = JSON.parse((await sh(Deno.execPath(), ["info", "--json"])).stdout);
    const source = join(info.npmCache, "registry.npmjs.org", name, version);
    await this.#pack(name, version, source);
  }

  /** Offers an npm package made of `files` (a stand-in written by a test). */
  async addNpmFromFiles(
    name: string,
    version: string,
    files: Record<string, string>,
  ): Promise<void> {
    const source = await Deno.makeTempDir({ dir: this.#dir });
    for (const [path, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(source, path), text);
    }
    await this.#pack(name, version, source);
  }

  async #pack(name: string, version: string, source: string): Promise<void> {
    const out = join(this.#dir, `${name.replace("/", "_")}-${version}.tgz`);
    await sh("tar", [
      "-czf",
      out,
      "-C",
      source,
      "--transform",
      "s,^\\.,package,",
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--exclude=.deno_sync_lock",
      ".",
    ]);
    const manifest = JSON.parse(await Deno.readTextFile(join(source, "package.json")));
    this.#npm.set(name, { version, tarball: await Deno.readFile(out), manifest });
  }

  /** Publishes this repository with the real `deno publish`, as JSR would receive it. */
  async publishRepo(): Promise<string> {
    const out = await sh(Deno.execPath(), [
      "publish",
      "--token",
      "test",
      "--allow-dirty",
      "--no-check",
    ], {
      cwd: repo,
      // The author's machine: their Deno cache and lock, and only this registry beyond it.
      env: {
        JSR_URL: this.url,
        DENO_CERT: this.ca,
        HTTPS_PROXY: "http://127.0.0.1:9",
        HTTP_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "127.0.0.1,localhost",
      },
      stdin: "null",
    });
    return out.stdout + out.stderr;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = decodeURIComponent(url.pathname);
    this.requests.push({ method: request.method, path, at: Date.now() });
    const json = (value: unknown, status = 200) => Response.json(value, { status });
    const api = /^\/api\/scopes\/([^/]+)(?:\/packages\/([^/]+)(?:\/versions\/([^/]+))?)?$/.exec(
      path,
    );
    if (api && request.method === "POST" && api[3]) {
      const files = untar(await gunzip(new Uint8Array(await request.arrayBuffer())));
      this.published.set(`@${api[1]}/${api[2]}@${api[3]}`, files);
      return json({ id: "1", status: "success", error: null });
    }
    if (api && api[3] && !this.published.has(`@${api[1]}/${api[2]}@${api[3]}`)) {
      return json({ code: "packageVersionNotFound", message: "not published yet" }, 404);
    }
    if (api) return json({ scope: api[1], name: api[2] ?? null });
    if (path.startsWith("/npm/")) return this.#npmResponse(path.slice(5));
    const meta = /^\/@([^/]+)\/([^/]+)\/meta\.json$/.exec(path);
    if (meta) return this.#packageMeta(meta[1], meta[2]);
    const versionMeta = /^\/@([^/]+)\/([^/]+)\/([^/]+)_meta\.json$/.exec(path);
    if (versionMeta) return this.#versionMeta(versionMeta[1], versionMeta[2], versionMeta[3]);
    const file = /^\/@([^/]+)\/([^/]+)\/([^/_]+)(\/.*)$/.exec(path);
    const bytes = file && this.published.get(`@${file[1]}/${file[2]}@${file[3]}`)?.get(file[4]);
    if (bytes) {
      const type = file[4].endsWith(".json") ? "application/json" : "application/typescript";
      return new Response(bytes, { headers: { "content-type": type } });
    }
    return new Response("not found", { status: 404 });
  }

  #packageMeta(scope: string, name: string): Response {
    const versions = [...this.published.keys()]
      .filter((key) => key.startsWith(`@${scope}/${name}@`))
      .map((key) => key.split("@").at(-1)!);
    if (versions.length === 0) return new Response("not found", { status: 404 });
    return Response.json({
      scope,
      name,
      latest: versions.at(-1),
      versions: Object.fromEntries(versions.map((v) => [v, {}])),
    });
  }

  #versionMeta(scope: string, name: string, version: string): Response {
    const files = this.published.get(`@${scope}/${name}@${version}`);
    if (!files) return new Response("not found", { status: 404 });
    const config = JSON.parse(new TextDecoder().decode(files.get("/deno.json")!));
    const manifest: Record<string, { size: number; checksum: string }> = {};
    for (const [path, bytes] of files) {
      manifest[path] = {
        size: bytes.length,
        checksum: `sha256-${sha("sha256", bytes).digest("hex")}`,
      };
    }
    return Response.json({ manifest, exports: config.exports });
  }

  #npmResponse(rest: string): Response {
    const tarball = /^(.+)\/-\/[^/]+\.tgz$/.exec(rest);
    const pkg = this.#npm.get(tarball ? tarball[1] : rest);
    if (!pkg) return new Response("not found", { status: 404 });
    if (tarball) return new Response(pkg.tarball);
    const name = rest;
    return Response.json({
      name,
      "dist-tags": { latest: pkg.version },
      versions: {
        [pkg.version]: {
          ...pkg.manifest,
          dist: {
            tarball: `${this.url}npm/${name}/-/${name}-${pkg.version}.tgz`,
            integrity: `sha512-${sha("sha512", pkg.tarball).digest("base64")}`,
            shasum: sha("sha1", pkg.tarball).digest("hex"),
          },
        },
      },
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
    await Deno.remove(this.#dir, { recursive: true });
  }
}
