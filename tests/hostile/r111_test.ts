// Review 111: what a plugin granted egress to one place reaches, or makes the host do. Each test
// starts a real plugin (tests/fixtures/fetch_user.ts, no net and no env grant: its only way out is
// `host.fetch`) or speaks to a real egress proxy, against real servers on this machine.
import assert from "node:assert/strict";
import { hostFetch, type HostFetchOptions, provide, startPlugin } from "../../mod.ts";
import { EgressProxy } from "../../runner/host/egress_proxy.ts";
import { isPrivateHost } from "../../runner/sandbox/mod.ts";
import { FetchUser } from "../fixtures/fetch_user_contract.ts";
import { fixture, until, within } from "../_helpers.ts";

const TOKEN = "tok-111c9e2a4b7d0f58";

async function start(options: HostFetchOptions) {
  const fetcher = hostFetch(options);
  const plugin = await startPlugin(fixture("fetch_user.ts"), {
    contracts: [FetchUser],
    capabilities: [provide(FetchUser, { fetch: fetcher })],
    isolation: "deno",
  });
  return { plugin, fetcher, api: plugin.api(FetchUser) };
}

/** This machine's IPv4 interface addresses past loopback, those no range calls private first. */
function ownBeyondLoopback(): string[] {
  const v4 = Deno.networkInterfaces().map((i) => i.address)
    .filter((a) => !a.includes(":") && !a.startsWith("127."));
  return [...v4.filter((a) => !isPrivateHost(a)), ...v4.filter((a) => isPrivateHost(a))];
}

/** A service of the host's own, on every address (as many are), that records each request. */
function ownService() {
  const reached: string[] = [];
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, (request) => {
    reached.push(request.url);
    return new Response("the host's own service");
  });
  return { reached, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

Deno.test("r111: a name answering an own address in its IPv4-mapped IPv6 spelling does not reach the host through hostFetch", async () => {
  const own = ownBeyondLoopback().find((a) => !isPrivateHost(a));
  if (own === undefined) return; // only loopback and private ranges here: nothing to show
  await using service = ownService();
  const destination = `api.example.test:${service.port}`;
  const { plugin, api } = await start({
    allow: [destination],
    // What a name's AAAA record ::ffff:<the host's address> gives getaddrinfo.
    resolve: () => Promise.resolve([`::ffff:${own}`]),
    timeout: 5_000,
  });
  await using _ = plugin;
  const answer = await api.get(`http://${destination}/`);
  assert.deepEqual(service.reached, [], `the host's own ${own} was reached: ${answer.body}`);
  assert.match(answer.body, /resolves to ::ffff:.*own address/);
});

Deno.test("r111: the egress proxy refuses a tunnel to an own address in its IPv4-mapped IPv6 spelling", async () => {
  const own = ownBeyondLoopback().find((a) => !isPrivateHost(a));
  if (own === undefined) return;
  await using service = ownService();
  const proxy = new EgressProxy({
    mode: "port",
    rules: [{ host: "api.example.test", port: service.port }],
    privateNetwork: false,
    port: 0,
  }, { plugin: "p", resolve: () => Promise.resolve([`::ffff:${own}`]) });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port! });
    await conn.write(new TextEncoder().encode(
      `CONNECT api.example.test:${service.port} HTTP/1.1\r\n\r\n`,
    ));
    const head = new Uint8Array(64);
    const n = await within(conn.read(head), 10_000, "the proxy's answer");
    conn.close();
    assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 403 /);
    assert.match(proxy.log.entries().at(-1)?.reason ?? "", /own address/);
  } finally {
    await proxy.close();
  }
});

Deno.test("r111: a secret is never sent in plain http past loopback, whatever port its TLS server listens on", async () => {
  // A raw listener where a TLS server on 8443 or 6443 would be: it reads what arrives in the
  // clear, as anyone on the path between the host and that server would.
  const address = ownBeyondLoopback()[0];
  if (address === undefined) return; // no address past loopback: no network to cross
  const listener = Deno.listen({ hostname: address, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const arrived = (async () => {
    const conn = await listener.accept();
    const bytes = new Uint8Array(4096);
    const n = await conn.read(bytes);
    await conn.write(
      new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
    );
    conn.close();
    return new TextDecoder().decode(bytes.subarray(0, n ?? 0));
  })().catch(() => "");
  const destination = `api.invalid:${port}`;
  const { plugin, api } = await start({
    allow: [destination],
    secrets: { API_TOKEN: { value: TOKEN, hosts: [destination] } },
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve([address]),
    timeout: 5_000,
  });
  await using _ = plugin;
  let answer;
  try {
    answer = await api.get(`http://${destination}/`);
  } finally {
    listener.close();
  }
  assert.ok(!(await arrived).includes(TOKEN), "the secret crossed the network in the clear");
  assert.match(answer.body, /plain http to .* would send a secret in the clear/);
});

Deno.test("r111: the fetch log holds a plugin's host name bounded, as it holds its URL", async () => {
  const seen: number[] = [];
  const { plugin, api, fetcher } = await start({
    allow: ["127.0.0.1:9"],
    unsafe: { privateNetwork: true },
    onRequest: (entry) => seen.push(entry.host.length),
  });
  await using _ = plugin;
  const host = Array.from({ length: 120 }, () => "a".repeat(60)).join(".");
  const answer = await api.get(`http://${host}/`);
  assert.match(answer.body, /is not allowed/);
  const entry = fetcher.log(plugin.name)[0];
  assert.ok(entry.host.length < 300, `the log holds a host of ${entry.host.length} characters`);
  assert.deepEqual(seen, [entry.host.length]);
});

/** A server on loopback whose every answer waits until `release`d; `arrived` counts by path. */
function heldServer() {
  const arrived: string[] = [];
  const held: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    arrived.push(new URL(request.url).pathname);
    await new Promise<void>((resolve) => held.push(resolve));
    return new Response("ok");
  });
  return {
    arrived,
    port: server.addr.port,
    release: () => held.splice(0).forEach((go) => go()),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

// A plugin's capability calls in flight (64) each held a body of up to 4 MiB a few times over
// while it was answered: 64 bodies of control characters held 769 MiB of the host at once.
Deno.test("r111: a plugin's fetches past maxConcurrent wait their turn; another plugin's do not", async () => {
  await using server = heldServer();
  const fetcher = hostFetch({
    allow: [`127.0.0.1:${server.port}`],
    unsafe: { privateNetwork: true },
    maxConcurrent: 3,
  });
  const signal = new AbortController().signal;
  const get = (plugin: string, path: string) =>
    fetcher({ url: `http://127.0.0.1:${server.port}/${path}`, method: "GET" }, { plugin, signal });
  const first = Array.from({ length: 6 }, (_, i) => get("a", `a${i}`));
  await until(() => server.arrived.length === 3, 10_000, "a's first three requests");
  // Another plugin's request goes on at once, fired after a's six: a's last three, fired before
  // it, wait for a turn of a's own.
  const other = get("b", "b");
  await until(() => server.arrived.includes("/b"), 10_000, "b's request");
  assert.deepEqual(server.arrived.filter((path) => path.startsWith("/a")).length, 3);
  server.release();
  await until(() => server.arrived.length === 7, 10_000, "a's next three");
  server.release();
  for (const answer of await Promise.all([...first, other])) assert.equal(answer.body, "ok");
});

// A body is answered to the plugin as JSON, where a control character is 6 bytes: 4 MiB of them
// within maxResponseBytes was built into a 24 MiB answer, only to be refused at the line cap.
Deno.test("r111: a response body over maxResponseBytes as JSON is refused before its answer is built", async () => {
  const body = new Uint8Array(256 * 1024).fill(1);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  try {
    const fetcher = hostFetch({
      allow: [`127.0.0.1:${server.addr.port}`],
      unsafe: { privateNetwork: true },
      maxResponseBytes: 1024 * 1024,
    });
    const request = { url: `http://127.0.0.1:${server.addr.port}/`, method: "GET" as const };
    const context = { plugin: "p", signal: new AbortController().signal };
    await assert.rejects(fetcher(request, context), /over 1048576 bytes as JSON/);
  } finally {
    await server.shutdown();
  }
});
