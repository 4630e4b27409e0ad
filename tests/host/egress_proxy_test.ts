// The host's egress proxy on its own: what it allows, what it refuses and
// says why, what it logs, and its bounds. Real sockets on 127.0.0.1.
import assert from "node:assert/strict";
import { EgressProxy, type EgressProxyOptions } from "../../runner/host/egress_proxy.ts";
import type { EgressPlan } from "../../runner/sandbox/mod.ts";
import { until } from "../_helpers.ts";
import { freePort } from "../hostile/_hostile.ts";

const TOKEN = "t0k3n";
const AUTH = `proxy-authorization: Basic ${btoa(`plugbox:${TOKEN}`)}\r\n`;

/** A server that keeps the whole head of each request and answers "ok". */
function headServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buffer = new Uint8Array(8192);
      const n = await conn.read(buffer).catch(() => null);
      heads.push(new TextDecoder().decode(buffer.subarray(0, n ?? 0)));
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))
        .catch(() => {});
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    heads,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

/** A proxy in port mode (as under Landlock), closed on dispose. */
function proxyFor(
  rules: EgressPlan["rules"],
  options: Partial<EgressProxyOptions> & { privateNetwork?: boolean } = {},
) {
  const plan: EgressPlan = {
    mode: "port",
    rules,
    privateNetwork: options.privateNetwork ?? false,
    port: freePort(),
    token: TOKEN,
  };
  const proxy = new EgressProxy(plan, { plugin: "p", ...options });
  return { proxy, port: plan.port!, [Symbol.asyncDispose]: () => proxy.close() };
}

/** Sends `head` to the proxy; returns everything it answers until it closes. */
async function ask(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head)).catch(() => {});
  let text = "";
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  return text;
}

const to = (address: string) => () => Promise.resolve([address]);

Deno.test("egress proxy: a granted name is reached at the address it checked, in origin form, and logged", async () => {
  await using server = headServer();
  const asked: string[] = [];
  await using p = proxyFor([{ host: "svc.example", port: server.port }], {
    privateNetwork: true,
    resolve: (host) => (asked.push(host), Promise.resolve(["127.0.0.1"])),
  });
  const answer = await ask(
    p.port,
    `GET http://svc.example:${server.port}/a?b HTTP/1.1\r\nhost: svc.example\r\n${AUTH}` +
      `proxy-connection: keep-alive\r\nconnection: keep-alive\r\n\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 200 OK/);
  const [head] = server.heads;
  assert.match(head, /^GET \/a\?b HTTP\/1\.1\r\n/, "origin form");
  assert.doesNotMatch(head, /proxy-|keep-alive/i, "hop-by-hop headers and the credential stay");
  assert.match(head, /\r\nconnection: close\r\n/, "one request per checked connection");
  assert.deepEqual(asked, ["svc.example"]);
  const [entry] = p.proxy.log.entries();
  assert.deepEqual({ ...entry, time: 0 }, {
    time: 0,
    plugin: "p",
    method: "GET",
    host: "svc.example",
    port: server.port,
    verdict: "allowed",
    address: "127.0.0.1",
  });
});

Deno.test("egress proxy: loopback, private, link-local, metadata and the host's own addresses are refused unless acknowledged", async () => {
  const own = Deno.networkInterfaces().find((i) =>
    i.family === "IPv4" && i.address !== "127.0.0.1"
  );
  const addresses = ["127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1", "fd00::1"];
  if (own) addresses.push(own.address);
  for (const address of addresses) {
    await using p = proxyFor([{ host: "svc.example", port: 443 }], { resolve: to(address) });
    const answer = await ask(p.port, `CONNECT svc.example:443 HTTP/1.1\r\n${AUTH}\r\n`);
    assert.match(answer, /^HTTP\/1\.1 403 /, address);
    const [entry] = p.proxy.log.entries();
    assert.equal(entry.verdict, "refused", address);
    assert.equal(entry.address, address);
    assert.match(entry.reason!, /loopback, private, link-local or own address/);
  }
});

Deno.test("egress proxy: what is not granted is refused before any lookup: another port, another name, an address", async () => {
  const asked: string[] = [];
  await using p = proxyFor([{ host: "svc.example", port: 443 }], {
    resolve: (host) => (asked.push(host), Promise.resolve(["93.184.215.14"])),
  });
  for (const target of ["svc.example:444", "other.example:443", "93.184.215.14:443", "[::1]:443"]) {
    const answer = await ask(p.port, `CONNECT ${target} HTTP/1.1\r\n${AUTH}\r\n`);
    assert.match(answer, /^HTTP\/1\.1 403 /, target);
  }
  assert.deepEqual(asked, []);
  assert.ok(p.proxy.log.entries().every((e) => /is not granted/.test(e.reason!)));
});

Deno.test("egress proxy: requests without the credential, malformed, or too long are refused and logged", async () => {
  await using p = proxyFor([{ host: "svc.example", port: 443 }]);
  assert.match(await ask(p.port, "CONNECT svc.example:443 HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 407 /);
  const wrong = `proxy-authorization: Basic ${btoa("plugbox:guess")}\r\n`;
  assert.match(await ask(p.port, `CONNECT svc.example:443 HTTP/1.1\r\n${wrong}\r\n`), / 407 /);
  assert.match(await ask(p.port, `BREW coffee\r\n${AUTH}\r\n`), /^HTTP\/1\.1 400 /);
  assert.match(await ask(p.port, `GET https://svc.example/ HTTP/1.1\r\n${AUTH}\r\n`), / 400 /);
  assert.match(await ask(p.port, `CONNECT svc.example HTTP/1.1\r\n${AUTH}\r\n`), / 400 /);
  assert.match(await ask(p.port, `GET http://x/ HTTP/1.1\r\n${"a".repeat(20_000)}`), / 400 /);
  const reasons = p.proxy.log.entries().map((e) => e.reason);
  assert.equal(reasons.length, 6);
  assert.match(
    reasons.join("\n"),
    /no valid proxy credential[^]*no request head within 16384 bytes/,
  );
});

Deno.test("egress proxy: the log keeps the newest 256 entries and counts the rest", async () => {
  await using p = proxyFor([]);
  for (let i = 0; i < 300; i++) {
    await ask(p.port, `CONNECT n${i}.example:443 HTTP/1.1\r\n${AUTH}\r\n`);
  }
  const entries = p.proxy.log.entries();
  assert.equal(entries.length, 256);
  assert.equal(p.proxy.log.dropped, 44);
  assert.equal(entries[0].host, "n44.example");
});

Deno.test("egress proxy: connections beyond the cap are refused at once", async () => {
  await using p = proxyFor([{ host: "svc.example", port: 443 }], { maxConnections: 2 });
  // Two that never finish their head hold both places.
  const held = await Promise.all(
    [1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port: p.port })),
  );
  // Once both are accepted, the next is answered 503 without a look at its head.
  await until(
    async () => / 503 /.test(await ask(p.port, `CONNECT svc.example:443 HTTP/1.1\r\n${AUTH}\r\n`)),
    5000,
    "a refusal for the third connection",
  );
  for (const conn of held) conn.close();
  assert.match(p.proxy.log.entries().at(-1)!.reason!, /more than 2 connections/);
});

Deno.test("egress proxy: a request is matched in the grants' canonical form, whatever its spelling", async () => {
  await using server = headServer();
  // The rule as a grant becomes: canonicalNetGrant("0x7f.1:PORT") is "127.0.0.1:PORT".
  await using p = proxyFor([{ host: "127.0.0.1", port: server.port }], { privateNetwork: true });
  for (const spelled of ["0x7f.1", "2130706433", "127.000.000.001"]) {
    const answer = await ask(
      p.port,
      `GET http://${spelled}:${server.port}/ HTTP/1.1\r\nhost: ${spelled}\r\n${AUTH}\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 200 OK/, spelled);
  }
  assert.deepEqual(p.proxy.log.entries().map((e) => [e.host, e.verdict]), [
    ["127.0.0.1", "allowed"],
    ["127.0.0.1", "allowed"],
    ["127.0.0.1", "allowed"],
  ]);
});

Deno.test("egress proxy: a request head read a byte at a time, or split anywhere, is read whole once", async () => {
  const { parseProxyRequest } = await import("../../runner/host/egress_request.ts");
  const head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nearly";
  const bytes = new TextEncoder().encode(head);
  // A connection that hands over `sizes` bytes per read, then ends.
  const conn = (sizes: (at: number) => number) => {
    let at = 0;
    return {
      read(into: Uint8Array) {
        if (at === bytes.length) return Promise.resolve(null);
        const n = Math.min(sizes(at), into.length, bytes.length - at);
        into.set(bytes.subarray(at, at + n));
        at += n;
        return Promise.resolve(n);
      },
    } as unknown as Deno.Conn;
  };
  const reads = [
    () => 1,
    ...Array.from({ length: 60 }, (_, cut) => (at: number) => at < cut ? cut : 999),
  ];
  for (const size of reads) {
    const request = await parseProxyRequest(conn(size), 16 * 1024);
    assert.ok("host" in request, JSON.stringify(request));
    assert.equal(request.method, "CONNECT");
    assert.equal(request.host, "example.com");
    assert.equal(request.port, 443);
    // What came in the head's last read goes on; the rest is read by the tunnel later.
    assert.ok("early".startsWith(new TextDecoder().decode(request.forward)));
  }
});

/**
 * A destination whose accept queue is full: a listener with a backlog of 0
 * (Python's; Deno's cannot be set) holding one connection it never accepts,
 * so every further connect waits in SYN_SENT, as behind a slow or flooded host.
 */
async function fullDestination() {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket,sys;s=socket.socket();s.bind(('127.0.0.1',0));s.listen(0);" +
      "print(s.getsockname()[1],flush=True);sys.stdin.read()",
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the listener ended before it named its port");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(text.trim());
  const filler = await Deno.connect({ hostname: "127.0.0.1", port });
  return {
    port,
    /** Connections to it this machine is still opening (SYN_SENT). */
    opening: async () =>
      (await Deno.readTextFile("/proc/net/tcp")).split("\n").filter((line) => {
        const [, , remote, state] = line.trim().split(/\s+/);
        return state === "02" &&
          remote?.endsWith(`:${port.toString(16).toUpperCase().padStart(4, "0")}`);
      }).length,
    async [Symbol.asyncDispose]() {
      filler.close();
      await child.stdin.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

Deno.test("egress proxy: a connection that does not open in time is abandoned, not left to open later", async () => {
  await using destination = await fullDestination();
  await using p = proxyFor([{ host: "svc.example", port: destination.port }], {
    privateNetwork: true,
    resolve: to("127.0.0.1"),
    connectTimeoutMs: 200,
  });
  const answer = await ask(
    p.port,
    `CONNECT svc.example:${destination.port} HTTP/1.1\r\n${AUTH}\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 502 /);
  assert.match(p.proxy.log.entries()[0].reason!, /took longer than 200 ms/);
  // Left running, the attempt would open as soon as the queue had room.
  await until(async () => (await destination.opening()) === 0, 5000, "the attempt to be abandoned");
});

Deno.test("egress proxy: closing the proxy abandons the connections it is still opening", async () => {
  await using destination = await fullDestination();
  const p = proxyFor([{ host: "svc.example", port: destination.port }], {
    privateNetwork: true,
    resolve: to("127.0.0.1"),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port });
  await conn.write(
    new TextEncoder().encode(`CONNECT svc.example:${destination.port} HTTP/1.1\r\n${AUTH}\r\n`),
  );
  await until(async () => (await destination.opening()) === 1, 5000, "the proxy to be connecting");
  await p.proxy.close();
  await until(async () => (await destination.opening()) === 0, 5000, "the attempt to be abandoned");
  conn.close();
});
