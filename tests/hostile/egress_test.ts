// THREATS T25: egress. A net grant names a host; without plugbox Deno
// connects to whatever that name resolves to, so a public-looking name that
// resolves to loopback or a private address reaches services the host never
// granted. Under the OS layers the plugin reaches only plugbox's proxy,
// which resolves the name itself, refuses such addresses unless
// acknowledged, connects to the address it checked and logs every
// connection and refusal. The test names resolve through the host's
// resolver hook (`egressResolver`), standing in for a hosts entry or DNS.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type EgressEntry,
  type PluginEvent,
  PluginHost,
  previewStart,
  startPlugin,
} from "../../mod.ts";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import { rejected, uncaught, until } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun, recordingServer } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

/** A public-looking name; the resolver below says it is on loopback. */
const NAME = "api.example.test";
const toLoopback = (host: string) =>
  host === NAME
    ? Promise.resolve(["127.0.0.1"])
    : Promise.reject(new Error(`no such name ${host}`));
const PY_PROBE = fileURLToPath(new URL("./plugins/py_probe/main.py", import.meta.url));

async function withPlugin(
  isolation: string,
  grant: string,
  privateNetwork: boolean,
  body: (attempt: (what: string) => Promise<string>, log: () => EgressEntry[]) => Promise<void>,
) {
  const seen: EgressEntry[] = [];
  await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
    contracts: [Probe],
    isolation: isolation as "auto",
    permissions: { net: [grant] },
    unsafe: { privateNetwork },
    egressResolver: toLoopback,
    onEgress: (entry) => seen.push(entry),
  });
  assert.ok(plugin.plan.egress, "an OS layer plans filtered egress for a net grant");
  await body((what) => plugin.api(Probe).attempt(what), () => plugin.egressLog());
  assert.deepEqual(seen, plugin.egressLog(), "onEgress saw what the log kept");
}

for (const isolation of ISOLATIONS) {
  if (isolation === "deno") {
    Deno.test(`T25 [${isolation}]: documented: names are classified at plan time only, and nothing is logged`, async () => {
      await using server = recordingServer();
      // What the machine resolves to loopback now is refused at plan time (T18) ...
      const error = await rejected(startPlugin(hostile("t8_escalating_grants.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { net: [`localhost:${server.port}`] },
      }));
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /privateNetwork/);
      // ... but a granted name is Deno's to connect to: no proxy, no egress log.
      await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { net: [`${NAME}:${server.port}`] },
        egressResolver: toLoopback,
      });
      assert.equal(plugin.plan.egress, undefined);
      assert.match(await plugin.api(Probe).attempt(`connect ${NAME}:${server.port}`), /^refused: /);
      assert.deepEqual(plugin.egressLog(), []);
    });
    continue;
  }
  Deno.test(`T25 [${isolation}]: a granted name that resolves to loopback is refused, and the refusal is logged`, async () => {
    await using server = recordingServer();
    const grant = `${NAME}:${server.port}`;
    await withPlugin(isolation, grant, false, async (attempt, log) => {
      // A plain http request through a proxy gets the proxy's answer: 403, saying why.
      assert.match(
        await attempt(`fetch http://${grant}/`),
        /^fetched: plugbox refused this connection: api\.example\.test resolves to 127\.0\.0\.1/,
      );
      const [entry] = log();
      assert.equal(entry.verdict, "refused");
      assert.equal(entry.host, NAME);
      assert.equal(entry.port, server.port);
      assert.equal(entry.address, "127.0.0.1");
      assert.match(entry.reason!, /resolves to 127\.0\.0\.1, a loopback, private/);
      // Plain TCP to the same name: refused by the proxy (bubblewrap) or by Landlock.
      assert.match(await attempt(`connect ${grant}`), /^(connected: undefined|refused: )/);
      assert.ok(log().every((e) => e.verdict === "refused"), JSON.stringify(log()));
    });
    assert.deepEqual(server.requests, [], "the server never heard from the plugin");
  });

  Deno.test(`T25 [${isolation}]: with privateNetwork acknowledged a granted name reaches its server, and every connection is logged`, async () => {
    await using server = recordingServer();
    const grant = `${NAME}:${server.port}`;
    await withPlugin(isolation, grant, true, async (attempt, log) => {
      assert.equal(await attempt(`fetch http://${grant}/`), "fetched: ok");
      const connected = await attempt(`connect ${grant}`);
      if (isolation === "landlock") {
        // Landlock allows one TCP port, the proxy's, and no resolver: plain TCP is refused (documented).
        assert.match(connected, /^refused: (PermissionDenied|Error: failed to lookup)/);
      } else assert.equal(connected, "connected: ok");
      const allowed = log().filter((e) => e.verdict === "allowed");
      assert.equal(allowed.length, isolation === "landlock" ? 1 : 2, JSON.stringify(log()));
      for (const entry of allowed) {
        assert.equal(`${entry.host}:${entry.port}`, grant);
        assert.equal(entry.address, "127.0.0.1");
      }
    });
    assert.equal(server.requests.length, isolation === "landlock" ? 1 : 2);
  });
}

Deno.test("T25 control: without plugbox a granted name that resolves to loopback reaches the host's own service", async () => {
  await using server = recordingServer();
  // "localhost" is the name every machine resolves to loopback; any name in /etc/hosts does the same.
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-net=localhost:${server.port}`],
    args: ["connect", `localhost:${server.port}`],
  });
  assert.match(run.stderr, /connected: ok/);
  assert.equal(server.requests.length, 1);
});

for (const isolation of ["auto", "os"] as const) {
  Deno.test(`T25 [${isolation}]: a plugin past Deno's checks (Python) reaches its granted host through the proxy, and nothing else`, async () => {
    await using granted = recordingServer();
    await using other = recordingServer();
    const grant = `${NAME}:${granted.port}`;
    const entries: EgressEntry[] = [];
    await using plugin = await startPlugin(PY_PROBE, {
      contracts: [Probe],
      isolation,
      permissions: { net: [grant] },
      unsafe: { privateNetwork: true },
      egressResolver: toLoopback,
      onEgress: (entry) => entries.push(entry),
    });
    const probe = plugin.api(Probe);
    assert.equal(await probe.attempt(`http:http://${grant}/`), "fetched: ok");
    // Straight to the host's loopback: the sandbox has a loopback of its own.
    assert.match(await probe.attempt(`connect:127.0.0.1:${other.port}`), /^denied: /);
    // Through the proxy, to what was not granted: another port, another name.
    assert.match(
      await probe.attempt(`tunnel:${NAME}:${other.port}`),
      /^proxy said: HTTP\/1\.1 403/,
    );
    assert.match(
      await probe.attempt(`tunnel:127.0.0.1:${other.port}`),
      /^proxy said: HTTP\/1\.1 403/,
    );
    assert.deepEqual(other.requests, []);
    assert.equal(granted.requests.length, 1);
    assert.deepEqual(entries.map((e) => e.verdict), ["allowed", "refused", "refused"]);
    assert.match(entries[1].reason!, /is not granted/);
  });
}

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`T25 [${isolation}]: native code in a plugin granted net reaches nothing past Deno's checks but the proxy`, async () => {
    await using granted = recordingServer();
    await using other = recordingServer();
    const libc = Deno.realPathSync((await libcOf(Deno.realPathSync(Deno.execPath())))!);
    const starting = startPlugin(hostile("t24_kernel_calls.ts"), {
      contracts: [Probe],
      isolation,
      permissions: { net: [`${NAME}:${granted.port}`], ffi: [libc] },
      unsafe: { privateNetwork: true, ffi: true },
      egressResolver: toLoopback,
    });
    if (isolation === "landlock") {
      // Landlock's port rule holds on every address and seccomp cannot read connect's address:
      // native code with net is refused before it starts (review_test.ts has the attack).
      const error = await rejected(starting);
      assert.equal((error as Error).name, "IsolationUnavailableError", String(error));
      return;
    }
    await using plugin = await starting;
    // A raw socket to the host's loopback: the sandbox's own loopback (bubblewrap).
    const outcome = await plugin.api(Probe).attempt(`connect 127.0.0.1:${other.port} ${libc}`);
    assert.equal(outcome, "errno 111");
    assert.deepEqual(other.requests, []);
  });
}

/** A CA, and a certificate for NAME signed by it, made with openssl. */
async function certificates(dir: string) {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=t25 CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  );
  await Deno.writeTextFile(`${dir}/leaf.ext`, `subjectAltName=DNS:${NAME}\n`);
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    `/CN=${NAME}`,
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
    "-out",
    "leaf.pem",
  );
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
  return { ca: await read("ca.pem"), cert: await read("leaf.pem"), key: await read("leaf.key") };
}

/** A TLS server on 127.0.0.1 for NAME that answers "ok" to every request. */
function tlsServer(cert: string, key: string) {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  let served = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          await conn.read(new Uint8Array(4096));
          served++;
          await conn.write(
            new TextEncoder().encode(
              "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            ),
          );
        } catch {
          // the client went away
        } finally {
          conn.close();
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    served: () => served,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`T25 [${isolation}]: TLS to a granted name stays end to end, by that name, through the proxy`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "plugbox-t25-" });
    try {
      const { ca, cert, key } = await certificates(dir);
      await using server = tlsServer(cert, key);
      await using plugin = await startPlugin(hostile("t25_tls.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { net: [`${NAME}:${server.port}`] },
        unsafe: { privateNetwork: true },
        egressResolver: toLoopback,
      });
      const attempt = (kind: string) =>
        plugin.api(Probe).attempt(JSON.stringify({ kind, host: NAME, port: server.port, ca }));
      assert.equal(await attempt("fetch"), "fetched: ok");
      if (isolation === "os") assert.equal(await attempt("connectTls"), "connected: ok");
      else assert.match(await attempt("connectTls"), /^refused: /); // Landlock: documented
      assert.ok(plugin.egressLog().every((e) => e.verdict === "allowed" && e.method === "CONNECT"));
      assert.equal(server.served(), isolation === "os" ? 2 : 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("T25: a PluginHost reports each egress entry as an event", async () => {
  await using server = recordingServer();
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ onEvent: (event) => events.push(event) });
  const grant = `${NAME}:${server.port}`;
  await host.start("egress", hostile("t8_escalating_grants.ts"), {
    contracts: [Probe],
    permissions: { net: [grant] },
    egressResolver: toLoopback,
  });
  assert.match(
    await host.api("egress", Probe).attempt(`fetch http://${grant}/`),
    /^fetched: plugbox refused/,
  );
  await until(() => events.some((e) => e.type === "egress"), 5000, "the egress event");
  const event = events.find((e) => e.type === "egress")!;
  assert.ok(
    event.type === "egress" && event.entry.verdict === "refused" && event.plugin === "egress",
  );
});

/** A name granted beside NAME that the resolver cannot resolve: the proxy refuses it. */
const UNRESOLVED = "gone.example.test";

/** An egress listener that fails as `how` says, after noting the entry's verdict. */
function failingListener(how: "throws" | "rejects", told: string[]) {
  return (entry: EgressEntry): void => {
    told.push(entry.verdict);
    if (how === "throws") throw new Error("an egress listener's bug");
    return Promise.reject(new Error("an async egress listener's bug")) as unknown as void;
  };
}

for (const how of ["throws", "rejects"] as const) {
  Deno.test(`T25: an onEgress that ${how} is its own fault: the connection is made, the refusal answered, each logged, nothing is left unhandled`, async () => {
    using faults = uncaught();
    await using server = recordingServer();
    const grant = `${NAME}:${server.port}`;
    const told: string[] = [];
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: "os",
      permissions: { net: [grant, `${UNRESOLVED}:${server.port}`] },
      unsafe: { privateNetwork: true },
      egressResolver: toLoopback,
      onEgress: failingListener(how, told),
    });
    const attempt = (what: string) => plugin.api(Probe).attempt(what);
    assert.equal(await attempt(`fetch http://${grant}/`), "fetched: ok");
    assert.match(
      await attempt(`fetch http://${UNRESOLVED}:${server.port}/`),
      /^fetched: plugbox refused this connection: cannot resolve gone\.example\.test/,
    );
    assert.equal(await attempt(`fetch http://${grant}/`), "fetched: ok");
    assert.equal(server.requests.length, 2);
    const verdicts = ["allowed", "refused", "allowed"];
    assert.deepEqual(plugin.egressLog().map((e) => e.verdict), verdicts);
    assert.deepEqual(told, verdicts, "the listener was told of each");
    // One more round trip: a rejection left unhandled above has been reported by now.
    assert.match(await attempt("read /nonexistent"), /^refused: /);
    assert.equal(plugin.exitStatus, undefined, "the plugin runs on");
    assert.deepEqual(faults.seen, []);
  });

  Deno.test(`T25: a PluginHost plugin's onEgress that ${how} is its own fault: the egress event still comes, nothing is left unhandled`, async () => {
    using faults = uncaught();
    await using server = recordingServer();
    const events: PluginEvent[] = [];
    const told: string[] = [];
    await using host = new PluginHost({ onEvent: (e) => events.push(e), handleSignals: false });
    const grant = `${NAME}:${server.port}`;
    await host.start("egress", hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      permissions: { net: [grant] },
      unsafe: { privateNetwork: true },
      egressResolver: toLoopback,
      onEgress: failingListener(how, told),
    });
    const attempt = (what: string) => host.api("egress", Probe).attempt(what);
    assert.equal(await attempt(`fetch http://${grant}/`), "fetched: ok");
    assert.equal(await attempt(`fetch http://${grant}/`), "fetched: ok");
    const egress = events.flatMap((e) => e.type === "egress" ? [e.entry.verdict] : []);
    assert.deepEqual(egress, ["allowed", "allowed"]);
    assert.deepEqual(told, ["allowed", "allowed"]);
    assert.equal(host.get("egress").state, "running");
    assert.deepEqual(faults.seen, []);
  });
}

Deno.test("T25: no proxy variable can be granted, to a Deno plugin or a command plugin, and the plan's are plugbox's", async () => {
  await using server = recordingServer();
  const names = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "MYAPP_NO_PROXY"];
  for (const module of [hostile("t8_escalating_grants.ts"), PY_PROBE]) {
    for (const name of names) {
      const error = await rejected<Error>(previewStart(module, {
        isolation: "os",
        permissions: { env: { [name]: "*" } },
      }));
      assert.ok(error instanceof TypeError, `${name}: ${error}`);
      // Deno names most of them itself; the rest, and a Python plugin's, are proxy settings.
      assert.match(
        error.message,
        new RegExp(`env "${name}": it (is a proxy setting|is a name .* may read itself)`),
      );
    }
  }
  // With a net grant under an OS layer, the proxy variables are set, to plugbox's own proxy.
  const plan = await previewStart(hostile("t8_escalating_grants.ts"), {
    isolation: "os",
    permissions: { net: [`${NAME}:${server.port}`] },
  });
  assert.match(plan.env.HTTP_PROXY, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(plan.env.HTTPS_PROXY, plan.env.HTTP_PROXY);
  assert.equal(plan.env.NO_PROXY, undefined);
  assert.equal(plan.env.no_proxy, undefined);
});
