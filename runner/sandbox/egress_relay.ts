/**
 * The egress relay: a short Deno script that runs inside a bubblewrap
 * sandbox granted net, in the sandbox's own network namespace (which holds
 * only loopback). It listens on the sandbox's loopback for the plugin and
 * carries each connection over one Unix socket to plugbox's proxy on the
 * host, which alone decides what is reached:
 *
 * - the proxy port (`HTTP_PROXY`/`HTTPS_PROXY` point at it): bytes pass as
 *   they are, so `fetch` speaks the HTTP proxy protocol (CONNECT for https)
 *   to the host's proxy;
 * - one port per granted `name:port`: the sandbox's hosts file maps each
 *   granted name to its own loopback address, so `Deno.connect`,
 *   `Deno.connectTls` and any language's sockets reach the relay, which asks
 *   the proxy for `CONNECT name:port` and then passes bytes (TLS stays end
 *   to end, by the name the plugin used).
 *
 * The relay holds no verdict: a hijacked relay reaches only the proxy.
 * Written to the cache as text (`String(relayMain)`), so it uses nothing
 * from outside itself.
 * @module
 */

/** What the relay listens on, passed as its one JSON argument. */
export interface RelaySpec {
  /** The proxy's Unix socket, as the sandbox sees it. */
  socket: string;
  /** The HTTP proxy port. */
  proxy: { hostname: string; port: number };
  /** Per granted `name:port`: where the plugin connects, and what to ask the proxy for. */
  forwards: { hostname: string; port: number; target: string }[];
  /** Connections open at once; more are closed at once. */
  maxConnections: number;
}

/** The relay's whole program. Prints "ready" once every port is bound. */
export async function relayMain(): Promise<void> {
  // Its JSON in pieces, each within the kernel's limit on one argument (command_line.ts).
  const spec = JSON.parse(Deno.args.join("")) as RelaySpec;
  const COPY_BYTES = 16 * 1024;
  let open = 0;
  const closeAll = (...conns: { close(): void }[]) => {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  /**
   * Bytes from one end to the other through one buffer of its own, reused: a stream's pipe made
   * a new 64 KiB buffer for every read, garbage that Deno's collector left for as long as no new
   * allocation came, and a plugin that sent into 256 connections to a target that read nothing
   * held the relay at 70 MiB, past the memory kept for it, so the OOM killer ended the relay
   * (review 163). Its end is passed on as the end of writing; a failure ends both ends.
   */
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(COPY_BYTES);
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
    }
    await to.closeWrite();
  };
  const pipe = async (a: Deno.Conn, b: Deno.Conn, first?: Uint8Array) => {
    try {
      if (first && first.length) {
        for (let at = 0; at < first.length;) at += await b.write(first.subarray(at));
      }
      await Promise.all([copy(a, b), copy(b, a)]);
    } catch {
      // one end failed: both are closed
    } finally {
      closeAll(a, b);
    }
  };
  /** Asks the proxy for a tunnel; returns bytes read past its answer, or undefined if refused. */
  const tunnel = async (upstream: Deno.Conn, target: string) => {
    await upstream.write(new TextEncoder().encode(
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`,
    ));
    const buffer = new Uint8Array(8192);
    let size = 0;
    while (size < buffer.length) {
      const n = await upstream.read(buffer.subarray(size));
      if (n === null) return undefined;
      size += n;
      const head = new TextDecoder().decode(buffer.subarray(0, size));
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) continue;
      if (!/^HTTP\/1\.[01] 200 /.test(head)) return undefined;
      return buffer.slice(new TextEncoder().encode(head.slice(0, end + 4)).length, size);
    }
    return undefined;
  };
  const serve = async (listener: Deno.Listener, target?: string) => {
    for await (const conn of listener) {
      if (open >= spec.maxConnections) {
        closeAll(conn);
        continue;
      }
      open++;
      (async () => {
        let upstream: Deno.Conn | undefined;
        try {
          upstream = await Deno.connect({ transport: "unix", path: spec.socket });
          if (target === undefined) return await pipe(conn, upstream);
          const rest = await tunnel(upstream, target);
          if (rest === undefined) return closeAll(conn, upstream);
          await pipe(upstream, conn, rest);
        } catch {
          closeAll(conn, ...(upstream ? [upstream] : []));
        } finally {
          open--;
        }
      })();
    }
  };
  const listeners = [serve(Deno.listen(spec.proxy))];
  for (const forward of spec.forwards) {
    try {
      listeners.push(serve(Deno.listen(forward), forward.target));
    } catch {
      // An address this sandbox lacks (::1 without IPv6): that one forward is not offered.
    }
  }
  console.log("ready");
  await Promise.all(listeners);
}
