// T24: what a plugin does with native code (an ffi grant, acknowledged as
// unsafe) or in any language: call the kernel directly, past every Deno
// check. Each attempt says "ok" or the errno the kernel gave.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const NR = Deno.build.arch === "aarch64"
  ? {
    unshare: 97,
    ptrace: 117,
    mount: 40,
    add_key: 217,
    bpf: 280,
    io_uring_setup: 425,
    shmget: 194,
  }
  : {
    unshare: 272,
    ptrace: 101,
    mount: 165,
    add_key: 248,
    bpf: 321,
    io_uring_setup: 425,
    shmget: 29,
  };
const CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000;

function attack(what = ""): string {
  const [kind, target = "", libcPath = "/lib/x86_64-linux-gnu/libc.so.6"] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    chmod: { parameters: ["buffer", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
    kill: { parameters: ["i32", "i32"], result: "i32" },
    setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    ...ERRNO_SYMBOLS,
    unshare: { type: "pointer" },
    clone: { parameters: ["pointer", "pointer", "i32", "u64"], result: "i32" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
    rawmemchr: { parameters: ["pointer", "i32"], result: "pointer" },
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    inotify_init1: { parameters: ["i32"], result: "i32" },
    socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const outcome = (result: number | bigint) => Number(result) < 0 ? `errno ${errno()}` : "ok";
  const sys = (nr: number, ...args: number[]) => {
    const a = [...args.map(BigInt), 0n, 0n, 0n, 0n, 0n, 0n];
    return c.syscall(BigInt(nr), a[0], a[1], a[2], a[3], a[4]);
  };
  try {
    switch (kind) {
      case "unshare": // new namespaces (a thread-safe pair; user namespaces need one thread)
        return outcome(sys(NR.unshare, CLONE_NEWUTS | CLONE_NEWIPC));
      case "user-namespace": { // one thread may make a user namespace, without any privilege
        // A child that runs only libc's unshare(CLONE_NEWUSER) (no JavaScript) on a stack of its
        // own, and exits with its result: 0, or 255 when refused.
        const stack = c.mmap(null, 65536n, 3, 0x22 | 0x20000, -1, 0n); // anonymous, MAP_STACK
        c.memset(stack, 1, 65535n);
        const top = c.rawmemchr(stack, 0); // its last byte: the top of the stack
        const child = c.clone(c.unshare as Deno.PointerValue, top, 17, BigInt(CLONE_NEWUSER));
        if (child < 0) return `clone: errno ${errno()}`;
        const status = new Int32Array(1);
        c.waitpid(child, new Uint8Array(status.buffer), 0);
        if ((status[0] & 0x7f) !== 0) return `child died by signal ${status[0] & 0x7f}`;
        return ((status[0] >> 8) & 0xff) === 0 ? "ok" : "refused";
      }
      case "clone-namespace": { // clone straight into a new user namespace (the flag in clone itself)
        const stack = c.mmap(null, 65536n, 3, 0x22 | 0x20000, -1, 0n);
        c.memset(stack, 1, 65535n);
        const top = c.rawmemchr(stack, 0);
        // The child runs libc's unshare(0): nothing, exit 0.
        const child = c.clone(c.unshare as Deno.PointerValue, top, 17 | CLONE_NEWUSER, 0n);
        if (child < 0) return `clone: errno ${errno()}`;
        const status = new Int32Array(1);
        c.waitpid(child, new Uint8Array(status.buffer), 0);
        return "ok";
      }
      case "ptrace": // attach to the parent
        return outcome(sys(NR.ptrace, 16, Number(target)));
      case "mount":
        return outcome(sys(NR.mount, 0, 0, 0, 0, 0));
      case "keyring": // the kernel keyring is shared by every process of the user
        return outcome(sys(NR.add_key, 0, 0, 0, 0, 0));
      case "bpf":
        return outcome(sys(NR.bpf, 0, 0, 0));
      case "io_uring": // a way around seccomp's view of each call
        return outcome(sys(NR.io_uring_setup, 1, 0));
      case "setuid-file": { // a set-UID program for someone else to run
        const fd = c.open(text(target), 0o101, 0o4755); // O_CREAT | O_WRONLY
        if (fd < 0) return `open: errno ${errno()}`;
        c.close(fd);
        return `chmod: ${outcome(c.chmod(text(target), 0o4755))}`;
      }
      case "renice": // slow down another process
        return outcome(c.setpriority(0, Number(target), 19));
      case "signal": // probe (or kill) another process
        return outcome(c.kill(Number(target), 0));
      case "read": { // a file, past Deno's read check
        const fd = c.open(text(target), 0, 0);
        if (fd < 0) return `errno ${errno()}`;
        const buffer = new Uint8Array(64);
        const n = Number(c.read(fd, buffer, 64n));
        c.close(fd);
        return `read: ${new TextDecoder().decode(buffer.subarray(0, Math.max(n, 0)))}`;
      }
      case "connect": { // TCP, past Deno's net check
        const [host, port] = target.split(":");
        const fd = c.socket(2, 1, 0); // AF_INET, SOCK_STREAM
        if (fd < 0) return `socket: errno ${errno()}`;
        const address = new Uint8Array(16);
        const view = new DataView(address.buffer);
        view.setUint16(0, 2, true);
        view.setUint16(2, Number(port), false);
        host.split(".").forEach((octet, i) => address[4 + i] = Number(octet));
        const result = c.connect(fd, address, 16);
        const said = outcome(result);
        c.close(fd);
        return said;
      }
      case "unix-socket": // a socket file of the host's (a daemon's control socket)
        return outcome(c.socket(1, 1, 0));
      case "socketpair-dgram": { // an unbound Unix datagram socket sends to any by path
        const fds = new Int32Array(2);
        const said = outcome(c.socketpair(1, 2, 0, new Uint8Array(fds.buffer))); // AF_UNIX, SOCK_DGRAM
        if (said === "ok") fds.forEach((fd) => c.close(fd));
        return said;
      }
      case "socketpair-stream": {
        const fds = new Int32Array(2);
        const said = outcome(c.socketpair(1, 1, 0, new Uint8Array(fds.buffer)));
        if (said === "ok") fds.forEach((fd) => c.close(fd));
        return said;
      }
      case "sysv-shm": { // System V shared memory, the host's own where the IPC namespace is shared
        const id = sys(NR.shmget, 0, 4096, 0o1600); // IPC_PRIVATE, IPC_CREAT | 0600
        return outcome(id);
      }
      case "netlink": { // a netlink family by protocol: 0 routes, 4 the socket table (ss)
        const fd = c.socket(16, 3, Number(target)); // AF_NETLINK, SOCK_RAW
        const said = outcome(fd);
        if (fd >= 0) c.close(fd);
        return said;
      }
      case "inotify": { // watch a folder for the names of files made there
        const fd = c.inotify_init1(0);
        if (fd < 0) return `init: errno ${errno()}`;
        const said = outcome(c.inotify_add_watch(fd, text(target), 0x100)); // IN_CREATE
        c.close(fd);
        return said;
      }
      default:
        return `unknown attack "${what}"`;
    }
  } finally {
    libc.close();
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
