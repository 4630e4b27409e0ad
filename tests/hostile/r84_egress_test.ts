// Review 84: network egress from a hostile plugin given only the host's `fetch`. Each test
// starts a real plugin (tests/fixtures/fetch_user.ts, no net and no env grant) whose only way
// out is `host.fetch`, against real servers on 127.0.0.1, and shows a secret or a destination
// escaping what THREATS T27 says `hostFetch` holds.
import assert from "node:assert/strict";
import { hostFetch, type HostFetchOptions, provide, startPlugin } from "../../mod.ts";
import { EgressProxy } from "../../runner/host/egress_proxy.ts";
import { FetchUser } from "../fixtures/fetch_user_contract.ts";
import { fixture, within } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const TOKEN = "tok-84b1e07c5d2a9f36";

/** A server that records what it got and answers with the headers it got (an echo). */
function echoServer(hostname = "127.0.0.1", port = 0) {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname, port, onListen() {} }, (request) => {
    seen.push(request.headers.get("authorization"));
    return Response.json({ at: hostname, headers: Object.fromEntries(request.headers) });
  });
  return { seen, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
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

/** Sets `name` in the host's environment for the test's length. */
function hostEnv(name: string, value: string): Disposable {
  const before = Deno.env.get(name);
  Deno.env.set(name, value);
  return {
    [Symbol.dispose]: () =>
      before === undefined ? Deno.env.delete(name) : Deno.env.set(name, before),
  };
}

Deno.test("r84: a host whose environment lists the name in no_proxy still sends the request, and its secret, to the checked address only", async () => {
  // The check sees 127.0.0.2; the host's own resolver answers localhost with 127.0.0.1, as a
  // rebinding name answers its second lookup. no_proxy is common on hosts behind a proxy.
  await using checked = echoServer("127.0.0.2");
  await using rebound = echoServer("127.0.0.1", checked.port);
  using _env = hostEnv("no_proxy", "localhost");
  const destination = `localhost:${checked.port}`;
  const { plugin, api } = await start({
    allow: [destination],
    secrets: { API_TOKEN: { value: TOKEN, hosts: [destination] } },
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.2"]),
  });
  await using _ = plugin;
  const answer = await api.get(`http://${destination}/`);
  assert.deepEqual(rebound.seen, [], "the rebound address was reached (with the secret)");
  assert.equal(JSON.parse(answer.body).at, "127.0.0.2");
});

Deno.test("r84: a secret read from a file (a trailing newline) is cut out of an echo", async () => {
  await using server = echoServer();
  const destination = `127.0.0.1:${server.port}`;
  const { plugin, api } = await start({
    allow: [destination],
    // As `Deno.readTextFileSync("token.txt")` gives it.
    secrets: { API_TOKEN: { value: `${TOKEN}\n`, hosts: [destination] } },
    unsafe: { privateNetwork: true },
  });
  await using _ = plugin;
  const answer = await api.get(`http://${destination}/`);
  assert.equal(server.seen.at(-1), `Bearer ${TOKEN}`, "the server got the secret");
  assert.ok(!answer.body.includes(TOKEN), `the plugin got the secret: ${answer.body}`);
});

Deno.test("r84: a secret whose value holds another's is cut out whole, whatever their order", async () => {
  await using server = echoServer();
  const destination = `127.0.0.1:${server.port}`;
  const { plugin, api } = await start({
    allow: [destination],
    secrets: {
      SHORT: { value: TOKEN.slice(0, 8), hosts: ["other.invalid:443"], header: "x-short" },
      LONG: { value: TOKEN, hosts: [destination] },
    },
    unsafe: { privateNetwork: true },
  });
  await using _ = plugin;
  const answer = await api.get(`http://${destination}/`);
  assert.equal(server.seen.at(-1), `Bearer ${TOKEN}`);
  assert.ok(!answer.body.includes(TOKEN.slice(8)), `the plugin got most of LONG: ${answer.body}`);
});

Deno.test("r84: a secret echoed as a response header's name is cut out of it", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const token = request.headers.get("authorization")?.slice("Bearer ".length) ?? "none";
    return new Response("ok", { headers: { [token]: "1" } });
  });
  await using _server = { [Symbol.asyncDispose]: () => server.shutdown() };
  const destination = `127.0.0.1:${server.addr.port}`;
  const { plugin, api } = await start({
    allow: [destination],
    secrets: { API_TOKEN: { value: TOKEN, hosts: [destination] } },
    unsafe: { privateNetwork: true },
  });
  await using _ = plugin;
  const answer = await api.get(`http://${destination}/`);
  assert.ok(
    !JSON.stringify(answer).includes(TOKEN),
    `the plugin got the secret: ${JSON.stringify(answer)}`,
  );
  assert.ok(JSON.stringify(answer.headers).includes("[secret API_TOKEN]"), JSON.stringify(answer));
});

Deno.test("r84: a secret past printable ASCII is refused, as an echo of it could not be cut out", () => {
  const error = (() => {
    try {
      hostFetch({
        allow: ["127.0.0.1:8080"],
        secrets: { API_TOKEN: { value: "p\u00e4ssword-1", hosts: ["127.0.0.1:8080"] } },
        unsafe: { privateNetwork: true },
      });
    } catch (error) {
      return error;
    }
  })();
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /Cannot use secret "API_TOKEN" in hostFetch: "value" must be printable ASCII/,
  );
});

Deno.test("r84: one plugin's requests do not push another's out of the fetch log; its own pushed out are counted", async () => {
  const fetcher = hostFetch({ allow: ["127.0.0.1:9"], unsafe: { privateNetwork: true } });
  const started = (name: string) =>
    startPlugin(fixture("fetch_user.ts"), {
      name,
      contracts: [FetchUser],
      capabilities: [provide(FetchUser, { fetch: fetcher })],
      isolation: "deno",
    });
  await using witness = await started("witness");
  await using flooder = await started("flooder");
  await witness.api(FetchUser).get("http://witness.invalid/").catch(() => {});
  for (let i = 0; i < 300; i++) {
    await flooder.api(FetchUser).get(`http://flood-${i}.invalid/`).catch(() => {});
  }
  assert.equal(fetcher.log("witness").length, 1, "the witness's request is still logged");
  assert.equal(fetcher.log("witness")[0].host, "witness.invalid");
  assert.equal(fetcher.log("flooder").length, 256);
  assert.equal(fetcher.dropped("flooder"), 44);
  assert.equal(fetcher.dropped("witness"), 0);
  assert.equal(fetcher.log().length, 257);
});

Deno.test("r84: a secret bound to an https port is never sent there in plain http", async () => {
  // A raw listener where the https server would be: it reads what arrives in the clear.
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.84", port: 443 });
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.AddrInUse) {
      return; // no port 443 here: nothing to show
    }
    throw error;
  }
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
  const { plugin, api } = await start({
    allow: ["api.invalid:443"],
    secrets: { API_TOKEN: { value: TOKEN, hosts: ["api.invalid:443"] } },
    unsafe: { privateNetwork: true },
    resolve: () => Promise.resolve(["127.0.0.84"]),
    timeout: 5_000,
  });
  await using _ = plugin;
  let answer;
  try {
    answer = await api.get("http://api.invalid:443/");
  } finally {
    listener.close();
  }
  assert.ok(!(await arrived).includes(TOKEN), "the secret crossed the network in the clear");
  assert.match(answer.body, /plain http to port 443/);
});

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r84 [${isolation}]: a plain http request through the egress proxy reaches the granted name only, whatever Host it names`, async () => {
    // One address serving two names: the granted one, and one the host never granted.
    const hosts: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      hosts.push(request.headers.get("host") ?? "");
      return new Response(request.headers.get("host")?.startsWith("internal.") ? "internal" : "ok");
    });
    const grant = `api.example.test:${server.addr.port}`;
    try {
      await using plugin = await startPlugin(hostile("r84_fronting.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { net: [grant] },
        unsafe: { privateNetwork: true },
        egressResolver: () => Promise.resolve(["127.0.0.1"]),
      });
      const answer = await plugin.api(Probe).attempt(`http://${grant}/ internal.example.test`);
      assert.equal(plugin.egressLog().at(-1)?.host, "api.example.test", "the log names the grant");
      assert.deepEqual(hosts, [grant], `the server was asked for ${hosts.join(", ")}`);
      assert.equal(answer, "fetched: ok");
    } finally {
      await server.shutdown();
    }
  });
}

/**
 * A lenient server, as RFC 9112 (2.2) lets a recipient be: a bare LF ends a line, and the last
 * header of a name wins. It answers with the Host it read.
 */
function lenientServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hosts: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buffer = new Uint8Array(8192);
      const n = await conn.read(buffer).catch(() => null);
      const lines = new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split(/\r?\n/);
      const headers = new Map(lines.slice(1).map((l) => [l.split(":")[0].trim().toLowerCase(), l]));
      hosts.push(headers.get("host")?.replace(/^[^:]*:\s*/, "") ?? "");
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))
        .catch(() => {});
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    hosts,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("r84: a head with a bare LF, or a folded line, cannot carry a second Host past the egress proxy", async () => {
  // What a plugin past Deno's checks (another language) can send the proxy: the bytes are its own.
  await using server = lenientServer();
  const grant = `api.example.test:${server.port}`;
  const plan = {
    mode: "port" as const,
    rules: [{ host: "api.example.test", port: server.port }],
    privateNetwork: true,
    port: 0,
  };
  const proxy = new EgressProxy(plan, {
    plugin: "p",
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  try {
    for (
      const smuggled of [
        "x-a: a\nhost: internal.example.test",
        "x-a: a\r\n host: internal.example.test",
      ]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port! });
      await conn.write(
        new TextEncoder().encode(`GET http://${grant}/ HTTP/1.1\r\n${smuggled}\r\n\r\n`),
      );
      await new Response(conn.readable).text();
    }
    assert.ok(
      !server.hosts.some((h) => h.includes("internal")),
      `the server was asked for ${server.hosts.join(" | ")}`,
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("r84: hostFetch() refuses a host that could not keep NO_PROXY from its clients, naming the grant", async () => {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const module = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      file,
      `import { hostFetch } from ${JSON.stringify(module)};
try { hostFetch({ allow: ["example.com:443"] }); console.log("made"); }
catch (error) { console.log(String(error)); }`,
    );
    const run = async (env: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-sys", "--allow-net", ...env, file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr);
    };
    assert.match(await run([]), /^TypeError: .*--allow-env=NO_PROXY,no_proxy/);
    assert.equal(await run(["--allow-env=NO_PROXY,no_proxy"]), "made");
  } finally {
    await Deno.remove(file);
  }
});

// Review 86: the environment is the process's. Two Workers hiding NO_PROXY at once restored it
// under each other's client (93 of 8,003 clients made with it present), so only the main thread
// hides it: in a Worker, hostFetch is refused while either spelling is set.
Deno.test("r86: hostFetch in a Worker is refused while NO_PROXY is set, naming why", async () => {
  using _env = hostEnv("NO_PROXY", "localhost");
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const source = `import { hostFetch } from ${JSON.stringify(mod)};
    try {
      hostFetch({ allow: ["127.0.0.1:9"], unsafe: { privateNetwork: true } });
      self.postMessage("made");
    } catch (error) {
      self.postMessage(String(error));
    }`;
  const worker = new Worker(`data:application/typescript,${encodeURIComponent(source)}`, {
    type: "module",
  });
  try {
    const said = await within(
      new Promise<string>((resolve) => worker.onmessage = (e) => resolve(e.data)),
      30_000,
      "the Worker's answer",
    );
    assert.match(
      said,
      /TypeError: Cannot make hostFetch: NO_PROXY is set, and a Worker cannot hide it from its clients/,
    );
  } finally {
    worker.terminate();
  }
  // The main thread still may: it hides the variable around each client it makes.
  hostFetch({ allow: ["127.0.0.1:9"], unsafe: { privateNetwork: true } });
});
