// Review 88: native code (an acknowledged ffi grant) under the Landlock layer
// opens a file it may only read, read-only (Landlock allows that open), and
// changes the file's metadata through the descriptor: its inode flags by
// ioctl (FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR: what file_setattr did by path in
// review 87) or its times (futimens). Each attempt says "ok" or the errno.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const FS_IOC_GETFLAGS = 0x80086601n;
const FS_IOC_SETFLAGS = 0x40086602n;
const FS_IOC_FSGETXATTR = 0x801c581fn;
const FS_IOC_FSSETXATTR = 0x401c5820n;
const FS_NODUMP_FL = 0x40;
const FS_XFLAG_NODUMP = 0x80;
const UTIMENSAT = Deno.build.arch === "aarch64" ? 88n : 280n;

function attack(what = ""): string {
  const [kind, target = "", libcPath = ""] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
    syscall: { parameters: ["i64", "i64", "pointer", "buffer", "i64"], result: "i64" },
    close: { parameters: ["i32"], result: "i32" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const fd = c.open(new TextEncoder().encode(target + "\0"), 0, 0); // O_RDONLY
  try {
    if (fd < 0) return `open: errno ${errno()}`;
    switch (kind) {
      case "setflags": { // FS_NODUMP_FL on a file opened read-only
        const flags = new Int32Array(2);
        const bytes = new Uint8Array(flags.buffer);
        if (c.ioctl(fd, FS_IOC_GETFLAGS, bytes) < 0) return `getflags: errno ${errno()}`;
        flags[0] |= FS_NODUMP_FL;
        return c.ioctl(fd, FS_IOC_SETFLAGS, bytes) < 0 ? `setflags: errno ${errno()}` : "ok";
      }
      case "fssetxattr": { // FS_XFLAG_NODUMP through struct fsxattr
        const attr = new Uint32Array(7);
        const bytes = new Uint8Array(attr.buffer);
        if (c.ioctl(fd, FS_IOC_FSGETXATTR, bytes) < 0) return `fsgetxattr: errno ${errno()}`;
        attr[0] |= FS_XFLAG_NODUMP;
        return c.ioctl(fd, FS_IOC_FSSETXATTR, bytes) < 0 ? `fssetxattr: errno ${errno()}` : "ok";
      }
      case "futimens": { // times to the epoch, through the read-only descriptor
        const times = new Uint8Array(new BigInt64Array([0n, 0n, 0n, 0n]).buffer);
        return c.syscall(UTIMENSAT, BigInt(fd), null, times, 0n) < 0n
          ? `futimens: errno ${errno()}`
          : "ok";
      }
      default:
        return `unknown attack ${kind}`;
    }
  } finally {
    if (fd >= 0) c.close(fd);
    libc.close();
  }
}

serve(implement(Probe, { attempt: (what) => attack(what) }));
