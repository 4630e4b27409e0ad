// hostFetch against real local servers on 127.0.0.1: the plugin has no net
// and no env grant; the token reaches the bound server only, never an
// unbound one, never the plugin (its answers and its memory are searched).
import assert from "node:assert/strict";
import { hostFetch, type HostFetchOptions, provide, startPlugin } from "../../mod.ts";
import { FetchUser } from "../fixtures/fetch_user_contract.ts";
import { fixture, uncaught } from "../_helpers.ts";
import { memoryHolds, processTree } from "../_memory.ts";
import { liveObjects } from "../_heap.ts";

const TOKEN = "tok-7f3a9c21e5b84d06a1c2";

/** A server that answers with the headers it received, and records each request. */
function echoServer() {
  const seen: { path: string; authorization: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    seen.push({ path: url.pathname, authorization: request.headers.get("authorization") });
    if (url.pathname === "/big") return new Response("y".repeat(64 * 1024));
    if (url.pathname === "/stall") {
      // Headers and a first part of the body, then nothing more, ever.
      return new Response(new ReadableStream({ start: (c) => c.enqueue(new Uint8Array([0x7b])) }));
    }
    if (url.pathname === "/redirect") {
      return new Response(null, { status: 302, headers: { location: "http://example.com/" } });
    }
    return Response.json(Object.fromEntries(request.headers), {
      headers: { "x-echo": request.headers.get("authorization") ?? "none" },
    });
  });
  return { server, seen, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

async function start(options: HostFetchOptions) {
  const fetcher = hostFetch(options);
  const plugin = await startPlugin(fixture("fetch_user.ts"), {
    contracts: [FetchUser],
    capabilities: [provide(FetchUser, { fetch: fetcher })],
    isolation: "deno",
  });
  return { plugin, fetcher, api: plugin.api(FetchUser) };
}

Deno.test("hostFetch: the secret reaches the bound host only, and never the plugin", async () => {
  await using bound = echoServer();
  await using unbound = echoServer();
  const { plugin, fetcher, api } = await start({
    allow: [`127.0.0.1:${bound.port}`, `127.0.0.1:${unbound.port}`],
    secrets: { API_TOKEN: { value: TOKEN, hosts: [`127.0.0.1:${bound.port}`] } },
    unsafe: { privateNetwork: true },
  });
  await using _ = plugin;
  const good = await api.get(`http://127.0.0.1:${bound.port}/v1`);
  assert.equal(good.status, 200);
  assert.equal(bound.seen.at(-1)?.authorization, `Bearer ${TOKEN}`);
  // The server echoed the token in its body and a header: the plugin sees neither.
  assert.ok(!good.body.includes(TOKEN) && !good.headers.includes(TOKEN));
  assert.match(good.body, /\[secret API_TOKEN\]/);
  // The plugin cannot put the bound header on the bound host, nor get the token to another.
  await api.get(`http://127.0.0.1:${unbound.port}/v1`, { authorization: "mine" });
  assert.equal(unbound.seen.at(-1)?.authorization, "mine");
  assert.ok(unbound.seen.every((r) => r.authorization !== `Bearer ${TOKEN}`));
  // No grant of its own: no network, no environment.
  assert.equal(await api.direct(`http://127.0.0.1:${bound.port}/`), "NotCapable");
  assert.equal(await api.token(), "NotCapable");
  const log = fetcher.log(plugin.name);
  assert.deepEqual(log.map((e) => [e.verdict, e.status, e.secrets]), [
    ["allowed", 200, ["API_TOKEN"]],
    ["allowed", 200, []],
  ]);
  assert.ok(!JSON.stringify(log).includes(TOKEN));
  // And not anywhere in its memory.
  for (const pid of processTree(plugin.pid)) {
    const { found, scanned } = memoryHolds(pid, TOKEN);
    assert.ok(scanned > 1_000_000, `scanned only ${scanned} bytes of ${pid}`);
    assert.ok(!found, `the token is in the memory of plugin process ${pid}`);
  }
  // The search can find a string that is there: the host's own memory holds the token.
  assert.ok(memoryHolds(Deno.pid, TOKEN).found);
});

Deno.test("hostFetch: destinations off the allow-list, loopback without acknowledgement, bad URLs are refused", async () => {
  await using server = echoServer();
  const { plugin, fetcher, api } = await start({
    allow: [`127.0.0.1:${server.port}`, `localhost:${server.port}`],
  });
  await using _ = plugin;
  const loop = await api.get(`http://127.0.0.1:${server.port}/`);
  assert.equal(loop.status, -1);
  assert.match(loop.body, /^CapabilityError: refused: .*loopback/);
  const named = await api.get(`http://localhost:${server.port}/`);
  assert.match(named.body, /refused: localhost resolves to .*loopback/);
  const other = await api.get(`http://127.0.0.1:${server.port + 1}/`);
  assert.match(other.body, /refused: 127\.0\.0\.1:\d+ is not allowed/);
  assert.match((await api.get("file:///etc/passwd")).body, /only http and https/);
  assert.match((await api.get(`http://u:p@127.0.0.1:${server.port}/`)).body, /credentials/);
  assert.equal(server.seen.length, 0, "no request reached the server");
  assert.ok(fetcher.log().every((e) => e.verdict === "refused"));
});

Deno.test("hostFetch: response bytes are capped, redirects are not followed, a dead port fails plainly", async () => {
  await using server = echoServer();
  const { plugin, api } = await start({
    allow: [`127.0.0.1:${server.port}`, "127.0.0.1:1"],
    unsafe: { privateNetwork: true },
    maxResponseBytes: 1024,
  });
  await using _ = plugin;
  assert.match((await api.get(`http://127.0.0.1:${server.port}/big`)).body, /over 1024 bytes/);
  const redirect = await api.get(`http://127.0.0.1:${server.port}/redirect`);
  assert.equal(redirect.status, 302);
  const dead = await api.get("http://127.0.0.1:1/");
  assert.equal(dead.body, "CapabilityError: could not reach 127.0.0.1:1");
});

Deno.test("hostFetch: a body that stalls past the deadline is a timeout, not a cancel", async () => {
  await using server = echoServer();
  const { plugin, api } = await start({
    allow: [`127.0.0.1:${server.port}`],
    unsafe: { privateNetwork: true },
    timeout: 1000,
  });
  await using _ = plugin;
  const stalled = await api.get(`http://127.0.0.1:${server.port}/stall`);
  assert.equal(stalled.body, "CapabilityError: no answer within 1000 ms");
});

for (const how of ["throws", "rejects"] as const) {
  Deno.test(`hostFetch: an onRequest that ${how} is its own fault: the plugin gets its answer, the next request is logged, nothing is left unhandled`, async () => {
    using faults = uncaught();
    await using server = echoServer();
    const told: string[] = [];
    const { plugin, fetcher, api } = await start({
      allow: [`127.0.0.1:${server.port}`],
      unsafe: { privateNetwork: true },
      onRequest: (entry) => {
        told.push(entry.verdict);
        if (how === "throws") throw new Error("a fetch log listener's bug");
        return Promise.reject(new Error("an async fetch log listener's bug")) as unknown as void;
      },
    });
    await using _ = plugin;
    const first = await api.get(`http://127.0.0.1:${server.port}/first`);
    assert.equal(first.status, 200, first.body);
    const off = await api.get(`http://127.0.0.1:${server.port + 1}/`);
    assert.match(off.body, /^CapabilityError: refused: 127\.0\.0\.1:\d+ is not allowed/);
    const next = await api.get(`http://127.0.0.1:${server.port}/next`);
    assert.equal(next.status, 200, next.body);
    assert.deepEqual(server.seen.map((r) => r.path), ["/first", "/next"]);
    const log = fetcher.log(plugin.name).map((e) => [e.verdict, e.status]);
    assert.deepEqual(log, [["allowed", 200], ["refused", undefined], ["allowed", 200]]);
    assert.deepEqual(told, ["allowed", "refused", "allowed"], "the listener was told of each");
    // One more round trip: a rejection left unhandled above has been reported by now.
    assert.equal(await api.token(), "NotCapable");
    assert.equal(plugin.exitStatus, undefined, "the plugin runs on");
    assert.deepEqual(faults.seen, []);
  });
}

Deno.test("hostFetch() refuses a malformed allow-list or secret, naming it", () => {
  assert.throws(() => hostFetch({ allow: ["api.example.com"] }), /must be a host and a port/);
  assert.throws(
    () => hostFetch({ allow: [], secrets: { T: { value: "long-enough", hosts: [] } } }),
    /secret "T".*"hosts"/,
  );
  assert.throws(
    () => hostFetch({ allow: [], secrets: { T: { value: "x", hosts: ["a.example:443"] } } }),
    /secret "T".*at least 4/,
  );
  for (const name of ["resolve", "onRequest"]) {
    assert.throws(
      () => hostFetch({ allow: [], [name]: 5 } as unknown as HostFetchOptions),
      new RegExp(`"${name}" must be a function, got number`),
    );
  }
});

/** A server on `hostname:port` that records the paths it is asked for. */
function recordingServer(hostname: string, port: number) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname, port, onListen() {} }, (request) => {
    seen.push(new URL(request.url).pathname);
    return new Response(hostname);
  });
  return { server, seen, port: server.addr.port };
}

/** A recording server on `hostname:port`, or none where the machine has no such address (no IPv6). */
function listenIfAvailable(hostname: string, port: number) {
  try {
    return recordingServer(hostname, port);
  } catch (error) {
    if (error instanceof Deno.errors.AddrNotAvailable) return undefined;
    throw error;
  }
}

const context = (plugin: string) => ({ plugin, signal: new AbortController().signal });

Deno.test("hostFetch: the request goes to the address the check passed, never to a second lookup of the name", async () => {
  // A name the host's own resolver cannot answer: only the checked address can be reached.
  await using server = echoServer();
  const asked: string[] = [];
  const fetcher = hostFetch({
    allow: [`api.invalid:${server.port}`],
    unsafe: { privateNetwork: true },
    resolve: (name) => (asked.push(name), Promise.resolve(["127.0.0.1"])),
  });
  const answer = await fetcher(
    { method: "GET", url: `http://api.invalid:${server.port}/v1` },
    context("p"),
  );
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).host, `api.invalid:${server.port}`);
  assert.deepEqual(asked, ["api.invalid"], "the name is resolved once");
  assert.equal(fetcher.log("p").at(-1)?.address, "127.0.0.1");
  // A closed port at the checked address fails plainly: the proxy's own 502 is no server's answer.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  closed.close();
  const dead = hostFetch({
    allow: [`api.invalid:${closed.addr.port}`],
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  for (const scheme of ["http", "https"]) {
    const url = `${scheme}://api.invalid:${closed.addr.port}/`;
    await assert.rejects(dead({ method: "GET", url }, context("p")), {
      message: `could not reach api.invalid:${closed.addr.port}`,
      code: "unreachable",
    });
  }
});

Deno.test("hostFetch: DNS rebinding: a second answer for the name is never connected to", async () => {
  // The check sees 127.0.0.2; the host's resolver answers localhost with 127.0.0.1 (or ::1),
  // as a rebinding name would answer the second lookup. Servers wait at both.
  let checked, rebound, reboundV6;
  for (let attempt = 0; !rebound; attempt++) {
    checked = recordingServer("127.0.0.2", 0);
    try {
      rebound = recordingServer("127.0.0.1", checked.port);
      reboundV6 = listenIfAvailable("::1", checked.port);
    } catch (error) {
      await rebound?.server.shutdown();
      await checked.server.shutdown();
      rebound = undefined;
      if (attempt > 20) throw error;
    }
  }
  const servers = [checked!, rebound!, ...(reboundV6 ? [reboundV6] : [])];
  try {
    const fetcher = hostFetch({
      allow: [`localhost:${checked!.port}`],
      secrets: { API_TOKEN: { value: TOKEN, hosts: [`localhost:${checked!.port}`] } },
      unsafe: { privateNetwork: true },
      resolve: () => Promise.resolve(["127.0.0.2"]),
    });
    const url = `http://localhost:${checked!.port}/`;
    for (const path of ["a", "b", "c"]) {
      const answer = await fetcher({ method: "GET", url: url + path }, context("p"));
      assert.equal(answer.body, "127.0.0.2");
    }
    assert.deepEqual(checked!.seen, ["/a", "/b", "/c"]);
    assert.deepEqual(
      [...rebound!.seen, ...(reboundV6?.seen ?? [])],
      [],
      "the rebound address was reached",
    );
  } finally {
    for (const s of servers) await s.server.shutdown();
  }
});

Deno.test("hostFetch: https goes through a tunnel to the checked address, TLS by the URL's name", async () => {
  // A raw listener at the checked address reads what arrives: a TLS ClientHello naming
  // api.invalid (SNI), not a plaintext request carrying the secret.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const first = (async () => {
    const conn = await listener.accept();
    const bytes = new Uint8Array(4096);
    const n = await conn.read(bytes);
    conn.close();
    return bytes.subarray(0, n ?? 0);
  })();
  const fetcher = hostFetch({
    allow: [`api.invalid:${port}`],
    secrets: { API_TOKEN: { value: TOKEN, hosts: [`api.invalid:${port}`] } },
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.1"]),
    timeout: 10_000,
  });
  const failed = await fetcher({ method: "GET", url: `https://api.invalid:${port}/` }, context("p"))
    .then(() => "answered", (error) => error.code);
  // Whatever the outcome, nothing more comes: a connection that never arrived reads as none.
  listener.close();
  const hello = await first.catch(() => new Uint8Array());
  assert.equal(hello[0], 0x16, "a TLS handshake record");
  const text = new TextDecoder("latin1").decode(hello);
  assert.ok(text.includes("api.invalid"), "SNI names the URL's host");
  assert.ok(!text.includes(TOKEN));
  assert.equal(failed, "unreachable");
});

// Review 38: a host without --allow-net for the proxy or a destination made hostFetch all the
// same, and each request then failed as if its destination had ("request failed", a refusal).
Deno.test("hostFetch() refuses, naming it, a host that may not connect to the proxy or a destination", async () => {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const module = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      file,
      `import { hostFetch } from ${JSON.stringify(module)};
try { hostFetch({ allow: ["example.com:443"] }); console.log("made"); }
catch (error) { console.log(String(error)); }`,
    );
    const run = async (net: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-env", "--allow-sys=networkInterfaces", ...net, file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr);
    };
    assert.match(await run([]), /^TypeError: .*may not connect to 127\.0\.0\.1: .*--allow-net/);
    assert.match(
      await run(["--allow-net=127.0.0.1"]),
      /^TypeError: .*may not connect to example\.com:443: /,
    );
    assert.equal(await run(["--allow-net=127.0.0.1,example.com:443"]), "made");
  } finally {
    await Deno.remove(file);
  }
});

// Review 40: the per-request proxy connects to the address the name resolved to, which a grant of
// the name does not cover: with the README's `--allow-net=NAME:PORT,127.0.0.1` every request
// failed as "could not reach", naming nothing. The host is told which grant it lacks.
Deno.test("hostFetch(): a request whose resolved address the host may not connect to names the grant it lacks", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.2", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const port = server.addr.port;
    const module = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      file,
      `import { hostFetch } from ${JSON.stringify(module)};
const fetcher = hostFetch({
  allow: ["myhost.test:${port}"],
  resolve: () => Promise.resolve(["127.0.0.2"]),
  unsafe: { privateNetwork: true },
});
const context = { signal: new AbortController().signal, plugin: "p" };
try {
  const answer = await fetcher({ url: "http://myhost.test:${port}/" }, context);
  console.log(answer.status, answer.body);
} catch (error) { console.log(String(error)); }`,
    );
    const run = async (net: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-env", `--allow-net=${net}`, file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr);
    };
    assert.match(
      await run(`myhost.test:${port},127.0.0.1`),
      new RegExp(`lacks --allow-net for the address myhost\\.test:${port} resolves to`),
    );
    assert.equal(await run(`myhost.test:${port},127.0.0.1,127.0.0.2:${port}`), "200 ok");
  } finally {
    await Deno.remove(file);
    await server.shutdown();
  }
});

Deno.test("hostFetch: what it keeps per plugin name goes once the name is done with: its line and lookups by themselves, its log by forget()", async () => {
  await using server = echoServer();
  const fetcher = hostFetch({
    allow: [`api.invalid:${server.port}`, `127.0.0.1:${server.port}`],
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  // A name is looked up (its resolver's last lookup drops it); an address is not (its resolver,
  // made and never used, is dropped as its request ends).
  const urls = [`http://api.invalid:${server.port}/`, `http://127.0.0.1:${server.port}/`];
  // One name first, so that what every request makes once (clients, the proxy) is counted before.
  await fetcher({ method: "GET", url: urls[0] }, context("first"));
  const kinds = ["NameState", "Slots", "bounded"];
  const before = liveObjects(kinds);
  const names = Array.from({ length: 40 }, (_, i) => `job-${i}`);
  for (const [i, name] of names.entries()) {
    const url = urls[i % 2];
    assert.equal((await fetcher({ method: "GET", url }, context(name))).status, 200);
    assert.equal(fetcher.log(name).length, 1);
    fetcher.forget(name);
    assert.deepEqual(fetcher.log(name), []);
  }
  // Each name made a line (Slots) and a bounded resolver: neither outlives its requests.
  assert.deepEqual(liveObjects(kinds), before);
  assert.deepEqual(fetcher.log().map((e) => e.plugin), ["first"]);
  assert.equal(server.seen.length, 41);
});
