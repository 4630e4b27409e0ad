// Review 127: the egress path (THREATS T25, T27). Each test failed on the code it was written
// against (802de4b). A lookup cannot be cancelled (getaddrinfo holds a host thread until the
// resolver answers), so a lookup the proxy or hostFetch gave up on at its deadline still ran while
// the connection or call that asked for it was gone and another took its place: a granted name
// whose DNS answers slowly (its owner's to make slow) had the host run lookups without bound.
import assert from "node:assert/strict";
import { hostFetch } from "../../mod.ts";
import { type EgressResolver, resolving } from "../../runner/host/egress_check.ts";
import { EgressProxy } from "../../runner/host/egress_proxy.ts";
import { resolveGrants } from "../../runner/sandbox/permissions.ts";
import { within } from "../_helpers.ts";

const NAME = "slow.example.test";

// The resolvers here answer only when released: every lookup passes the deadline, whatever its
// length. A short one saves waiting out 5 s three times.
resolving.deadlineMs = 250;

/** A resolver whose lookups never answer until released; counts those running, and the most at once. */
function hangingResolver() {
  const pending: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const resolve: EgressResolver = () => {
    most = Math.max(most, ++running);
    return new Promise((answer) => pending.push(() => (running--, answer([]))));
  };
  return {
    resolve,
    most: () => most,
    calls: () => pending.length,
    release: () => pending.splice(0).forEach((answer) => answer()),
  };
}

/** Asks the proxy for a tunnel to NAME; returns its whole answer. */
async function tunnel(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`CONNECT ${NAME}:443 HTTP/1.1\r\n\r\n`));
    return await within(new Response(conn.readable).text(), 20_000, "the proxy's answer");
  } finally {
    try {
      conn.close();
    } catch {
      // the readable closed it
    }
  }
}

Deno.test("r127: lookups the egress proxy gave up on still count against its connection cap", async () => {
  const dns = hangingResolver();
  const proxy = new EgressProxy({
    mode: "port",
    rules: [{ host: NAME, port: 443 }],
    privateNetwork: true,
    port: 0,
  }, { plugin: "p", resolve: dns.resolve, maxConnections: 2 });
  try {
    // Two connections: each lookup passes its deadline, each is refused, each slot is freed.
    for (const answer of await Promise.all([tunnel(proxy.port!), tunnel(proxy.port!)])) {
      assert.match(answer, /^HTTP\/1\.1 403 [^]*took longer than/);
    }
    // Two more, while the first two lookups still run.
    for (const answer of await Promise.all([tunnel(proxy.port!), tunnel(proxy.port!)])) {
      assert.match(answer, /^HTTP\/1\.1 403 [^]*2 lookups still running/);
    }
    assert.equal(dns.most(), 2, `${dns.most()} lookups ran at once for a cap of 2`);
    assert.match(proxy.log.entries().at(-1)!.reason!, /2 lookups still running/);
    // Once they answer, a lookup runs again.
    dns.release();
    assert.match(await tunnel(proxy.port!), /^HTTP\/1\.1 403 [^]*took longer than/);
    assert.equal(dns.calls(), 1);
  } finally {
    dns.release();
    await proxy.close();
  }
});

Deno.test("r127: lookups hostFetch gave up on still count against the plugin's bound; another plugin's do not", async () => {
  const dns = hangingResolver();
  const fetcher = hostFetch({
    allow: [`${NAME}:80`],
    unsafe: { privateNetwork: true },
    resolve: dns.resolve,
  });
  const signal = new AbortController().signal;
  const get = (plugin: string) =>
    fetcher({ url: `http://${NAME}/`, method: "GET" }, { plugin, signal }).then(
      () => "answered",
      (error: Error) => error.message,
    );
  try {
    const first = await Promise.all(Array.from({ length: 64 }, () => get("a")));
    assert.ok(first.every((m) => /took longer than/.test(m)), first[0]);
    const again = await Promise.all(Array.from({ length: 8 }, () => get("a")));
    assert.ok(again.every((m) => /64 lookups still running/.test(m)), again[0]);
    assert.equal(dns.most(), 64, `${dns.most()} lookups ran at once for a bound of 64`);
    // Another plugin's lookup is its own.
    const other = get("b");
    dns.release();
    assert.match(await other, /resolves to no address/);
  } finally {
    dns.release();
  }
});

// 64:ff9b:1::/48 is NAT64's local-use prefix (RFC 8215): a network's own translator carries it to
// IPv4 addresses inside, its private ones among them. Only the well-known 64:ff9b::/96 was known.
Deno.test("r127: a name answering an address in NAT64's local-use prefix is refused, as is a grant of one", async () => {
  const proxy = new EgressProxy({
    mode: "port",
    rules: [{ host: "api.example.test", port: 80 }],
    privateNetwork: false,
    port: 0,
  }, { plugin: "p", resolve: () => Promise.resolve(["64:ff9b:1::a00:1"]) });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port! });
    await conn.write(new TextEncoder().encode("CONNECT api.example.test:80 HTTP/1.1\r\n\r\n"));
    const answer = await within(new Response(conn.readable).text(), 20_000, "the proxy's answer");
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.match(proxy.log.entries()[0].reason!, /64:ff9b:1::a00:1, a loopback, private/);
  } finally {
    await proxy.close();
  }
  for (const grant of ["[64:ff9b:1::a00:1]:80", "[64:ff9b:1:ffff::7f00:1]:80"]) {
    assert.throws(
      () => resolveGrants({ net: [grant] }),
      /loopback, private or local/,
      grant,
    );
  }
});
