// Review 124: native code (an acknowledged ffi grant) under the Landlock layer tries each right
// the ruleset must handle at ABI 7, and the descriptors the launcher leaves it: a file it may
// only read truncated, moved out of its read grant, a device's ioctl, a UDP or raw socket, a
// signal to the host, and the launcher's pinned /proc/<pid> descriptor used as a folder to open
// past it. Each attempt says "ok" (or what it read) or the errno the kernel gave.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const RNDGETENTCNT = 0x80045200;

function attack(what = ""): string {
  const [kind, target = "", libcPath = ""] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    openat: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
    kill: { parameters: ["i32", "i32"], result: "i32" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    truncate: { parameters: ["buffer", "i64"], result: "i32" },
    rename: { parameters: ["buffer", "buffer"], result: "i32" },
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const outcome = (result: number | bigint) => result < 0 ? `errno ${errno()}` : "ok";
  try {
    switch (kind) {
      case "truncate": // a file of its read grant, emptied by path
        return outcome(c.truncate(text(target), 0n));
      case "rename": { // "from>to": a file of its read grant moved into its write grant
        const [from, to] = target.split(">");
        return outcome(c.rename(text(from), text(to)));
      }
      case "ioctl": { // a device it may only read: the entropy count (RNDGETENTCNT)
        const fd = c.open(text(target), 0, 0);
        if (fd < 0) return `open: errno ${errno()}`;
        const count = new Uint8Array(4);
        const result = c.ioctl(fd, BigInt(RNDGETENTCNT), count);
        const seen = outcome(result);
        c.close(fd);
        return seen;
      }
      case "socket": { // "family:type:protocol"
        const [family, type, protocol] = target.split(":").map(Number);
        const fd = c.socket(family, type, protocol);
        if (fd >= 0) c.close(fd);
        return outcome(fd);
      }
      case "signal": // signal 0 (no effect, only the check) to a process outside its sandbox
        return outcome(c.kill(Number(target), 0));
      case "pinned": { // a path opened relative to the launcher's descriptor of /proc/<pid>
        const fd = pinnedProc(c, text);
        if (fd === undefined) return "no pinned descriptor";
        const opened = c.openat(fd, text(target), 0, 0);
        if (opened < 0) return `errno ${errno()}`;
        const bytes = new Uint8Array(64);
        const got = c.read(opened, bytes, 64n);
        c.close(opened);
        return got < 0 ? `read: errno ${errno()}` : "read";
      }
    }
    return `unknown attack "${kind}"`;
  } finally {
    libc.close();
  }
}

/** The descriptor the launcher left open on its own (now the plugin's) /proc/<pid>. */
function pinnedProc(
  c: { readlink(path: Uint8Array, to: Uint8Array, size: bigint): number | bigint },
  text: (s: string) => Uint8Array,
): number | undefined {
  const link = new Uint8Array(256);
  for (let fd = 3; fd < 256; fd++) {
    const n = Number(c.readlink(text(`/proc/self/fd/${fd}`), link, 256n));
    if (n < 0) continue;
    if (/^\/proc\/\d+$/.test(new TextDecoder().decode(link.subarray(0, n)))) return fd;
  }
  return undefined;
}

serve(implement(Probe, { attempt: (what) => attack(what) }));
