// Review 87: native code (an acknowledged ffi grant) under the Landlock
// layer tries what Landlock's hooks may not see: a TCP connection made by
// sendto() with MSG_FASTOPEN (no connect() call), and changes to a file's
// timestamps or attributes outside its rules. Each attempt says "ok" or the
// errno the kernel gave.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const MSG_FASTOPEN = 0x20000000;
const AT_FDCWD = -100;
const NR = Deno.build.arch === "aarch64"
  ? { utimensat: 88, file_setattr: 469 }
  : { utimensat: 280, file_setattr: 469 };

function attack(what = ""): string {
  const [kind, target = "", libcPath = ""] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    syscall: { parameters: ["i64", "i64", "buffer", "buffer", "i64", "i64"], result: "i64" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    link: { parameters: ["buffer", "buffer"], result: "i32" },
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    strcpy: { parameters: ["pointer", "buffer"], result: "pointer" },
    // A number as a pointer, without UnsafePointer (which needs an ffi grant for every library).
    asPointer: { name: "strtoull", parameters: ["buffer", "pointer", "i32"], result: "pointer" },
    syscallAt: {
      name: "syscall",
      parameters: ["i64", "i64", "pointer", "buffer", "i64", "i64"],
      result: "i64",
    },
    close: { parameters: ["i32"], result: "i32" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  // A call on (AT_FDCWD, path, buffer, rest): pointers passed as buffers (no UnsafePointer,
  // which needs an ffi grant for every library).
  const atPath = (nr: number, path: string, data: Uint8Array, a = 0, b = 0) =>
    c.syscall(BigInt(nr), BigInt(AT_FDCWD), text(path), data, BigInt(a), BigInt(b));
  try {
    switch (kind) {
      case "fastopen": { // "127.0.0.1:port": a request sent with the SYN, no connect()
        const [host, port] = target.split(":");
        const sin = new Uint8Array(16);
        const view = new DataView(sin.buffer);
        view.setUint16(0, 2, true); // AF_INET
        view.setUint16(2, Number(port), false);
        sin.set(host.split(".").map(Number), 4);
        const fd = c.socket(2, 1, 0); // AF_INET, SOCK_STREAM
        if (fd < 0) return `socket: errno ${errno()}`;
        const request = new TextEncoder().encode("GET /fastopen HTTP/1.1\r\nhost: x\r\n\r\n");
        const sent = c.sendto(fd, request, BigInt(request.length), MSG_FASTOPEN, sin, 16);
        if (sent < 0) return `sendto: errno ${errno()}`;
        const answer = new Uint8Array(256);
        const got = c.recv(fd, answer, 256n, 0);
        c.close(fd);
        if (got < 0) return `recv: errno ${errno()}`;
        return `answered: ${
          new TextDecoder().decode(answer.subarray(0, Number(got))).split("\r\n")[0]
        }`;
      }
      case "utimes": { // a file it may not open: its times set to the epoch
        const times = new BigInt64Array([0n, 0n, 0n, 0n]);
        const bytes = new Uint8Array(times.buffer);
        const r = atPath(NR.utimensat, target, bytes);
        return r < 0n ? `errno ${errno()}` : "ok";
      }
      case "times-by-descriptor": { // a file of its write grant, opened: futimens
        const fd = c.open(text(target), 0o1 | 0o100, 0o644); // O_WRONLY | O_CREAT
        if (fd < 0) return `open: errno ${errno()}`;
        const bytes = new Uint8Array(new BigInt64Array([0n, 0n, 0n, 0n]).buffer);
        const r = c.syscall(BigInt(NR.utimensat), BigInt(fd), null, bytes, 0n, 0n);
        c.close(fd);
        return r < 0n ? `errno ${errno()}` : "ok";
      }
      case "times-high-path": { // the path at 4 GiB: the pointer's low half is zero
        const hint = c.asPointer(text(String(0x100000000)), null, 10);
        const at = c.mmap(hint, 4096n, 3, 0x22 | 0x100000, -1, 0n); // MAP_FIXED_NOREPLACE
        const check = c.asPointer(text("0"), null, 10);
        if (at === check) return "mmap: not at 4 GiB";
        c.strcpy(at, text(target));
        const bytes = new Uint8Array(new BigInt64Array([0n, 0n, 0n, 0n]).buffer);
        const r = c.syscallAt(BigInt(NR.utimensat), BigInt(AT_FDCWD), at, bytes, 0n, 0n);
        return r < 0n ? `errno ${errno()}` : "ok";
      }
      case "link-in": { // "outside>inside": a hard link to a file outside, into the write grant
        const [from, to] = target.split(">");
        return c.link(text(from), text(to)) < 0 ? `errno ${errno()}` : "ok";
      }
      case "sigio": { // SIGIO as SIGKILL, owned by another process, raised by a write
        const pair = new Int32Array(2);
        if (c.socketpair(1, 1, 0, new Uint8Array(pair.buffer)) < 0) return `pair: errno ${errno()}`;
        if (c.fcntl(pair[0], 8, Number(target)) < 0) return `F_SETOWN: errno ${errno()}`;
        if (c.fcntl(pair[0], 10, 9) < 0) return `F_SETSIG: errno ${errno()}`;
        if (c.fcntl(pair[0], 4, 0o20000) < 0) return `F_SETFL: errno ${errno()}`; // O_ASYNC
        c.write(pair[1], new Uint8Array([1]), 1n);
        return "written";
      }
      case "read": { // the first 4 KiB of a file, through libc
        const fd = c.open(text(target), 0, 0);
        if (fd < 0) return `errno ${errno()}`;
        const buffer = new Uint8Array(4096);
        const n = c.read(fd, buffer, 4096n);
        c.close(fd);
        return n < 0n
          ? `errno ${errno()}`
          : new TextDecoder().decode(buffer.subarray(0, Number(n)));
      }
      case "file-setattr": { // FS_XFLAG_NODUMP on a file it may not open
        const attr = new Uint32Array(6); // struct file_attr: xflags, extsize, nextents, projid, cowextsize
        const bytes = new Uint8Array(attr.buffer);
        const get = atPath(468, target, bytes, 24); // file_getattr
        if (get < 0n) return `file_getattr: errno ${errno()}`;
        attr[0] |= 0x80; // FS_XFLAG_NODUMP
        const r = atPath(NR.file_setattr, target, bytes, 24);
        return r < 0n ? `file_setattr: errno ${errno()}` : "ok";
      }
      default:
        return `unknown attack ${kind}`;
    }
  } finally {
    libc.close();
  }
}

serve(implement(Probe, { attempt: (what) => attack(what) }));
