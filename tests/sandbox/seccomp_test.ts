// The seccomp program, run here by a small classic-BPF interpreter on
// made-up system calls: what each rule lets through and what it refuses.
// (The hostile suite, T24, checks the same filter in the kernel.)
import assert from "node:assert/strict";
import {
  seccompInstructions,
  type SeccompOptions,
  unixSocketRefusal,
} from "../../runner/sandbox/seccomp.ts";
import { X86_64 } from "../../runner/sandbox/seccomp_tables.ts";

const ALLOW = 0x7fff0000;
const KILL = 0x80000000;
const errno = (n: number) => 0x00050000 | n;

/** Runs the filter on one call, as the kernel would: [nr, ...args], on x86_64 unless `arch` says. */
function verdict(options: SeccompOptions, nr: number, args: number[] = [], arch = 0xc000003e) {
  return runProgram(seccompInstructions("x86_64", options), nr, args, arch);
}

/** Runs a program on one call. */
function runProgram(program: number[][], nr: number, args: number[], arch: number): number {
  const word = (offset: number) =>
    offset === 0
      ? nr
      : offset === 4
      ? arch
      : offset >= 16
      ? (args[(offset - 16) / 8] ?? 0) >>> 0
      : 0;
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const [code, jt, jf, k] = program[pc];
    switch (code) {
      case 0x20:
        acc = word(k);
        break;
      case 0x54:
        acc = (acc & k) >>> 0;
        break;
      case 0x15:
        pc += acc === k >>> 0 ? jt : jf;
        break;
      case 0x25:
        pc += acc > k >>> 0 ? jt : jf;
        break;
      case 0x45:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x06:
        return k >>> 0;
      default:
        throw new Error(`unknown opcode ${code}`);
    }
    assert.ok(pc + 1 < program.length, "no jump leaves the program");
  }
  throw new Error("fell off the end");
}

const bwrap = { landlock: false };
const landlock = { landlock: true };
const nr = X86_64.nr;

Deno.test("seccomp: ordinary calls pass, refused ones get EPERM, calls newer than the tables ENOSYS", () => {
  for (const call of [0, 1, 3, 9, 60, 231]) assert.equal(verdict(bwrap, call), ALLOW, `nr ${call}`);
  for (const [name, number] of Object.entries(X86_64.refused)) {
    assert.equal(verdict(bwrap, number), errno(1), name);
  }
  assert.equal(verdict(bwrap, X86_64.max + 1), errno(38));
  assert.equal(verdict(bwrap, nr.clone3), errno(38), "clone3: C libraries fall back to clone");
  assert.equal(verdict(bwrap, 0x40000000 | 1), errno(1), "x32 calls");
  assert.equal(verdict(bwrap, 1, [], 0x40000003), KILL, "i386 calls on x86_64");
});

Deno.test("seccomp: threads and processes may be made, namespaces not", () => {
  const thread = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
  assert.equal(verdict(bwrap, nr.clone, [thread]), ALLOW);
  assert.equal(verdict(bwrap, nr.clone, [17]), ALLOW, "fork (SIGCHLD)");
  for (const flag of [0x10000000, 0x20000, 0x40000000, 0x20000000, 0x80]) {
    assert.equal(verdict(bwrap, nr.clone, [17 | flag]), errno(1), `flag ${flag.toString(16)}`);
  }
});

Deno.test("seccomp: no set-UID or set-GID file, however it is made", () => {
  const O_CREAT = 0x40, O_RDONLY = 0;
  assert.equal(verdict(bwrap, nr.openat, [-100, 0, O_CREAT | 1, 0o644]), ALLOW);
  assert.equal(verdict(bwrap, nr.openat, [-100, 0, O_CREAT | 1, 0o4755]), errno(1));
  assert.equal(verdict(bwrap, nr.openat, [-100, 0, 0x410000, 0o2755]), errno(1), "O_TMPFILE");
  // Without O_CREAT the mode argument is whatever was in the register: ignored.
  assert.equal(verdict(bwrap, nr.openat, [-100, 0, O_RDONLY, 0o7777]), ALLOW);
  assert.equal(verdict(bwrap, nr.open, [0, O_CREAT, 0o6755]), errno(1));
  assert.equal(verdict(bwrap, nr.creat, [0, 0o4700]), errno(1));
  assert.equal(verdict(bwrap, nr.chmod, [0, 0o4755]), errno(1));
  assert.equal(verdict(bwrap, nr.fchmod, [3, 0o755]), ALLOW);
  assert.equal(verdict(bwrap, nr.fchmodat, [-100, 0, 0o2755]), errno(1));
  assert.equal(verdict(bwrap, nr.fchmodat2, [-100, 0, 0o4755, 0]), errno(1));
  assert.equal(verdict(bwrap, nr.mknodat, [-100, 0, 0o104755, 0]), errno(1));
});

// Reviews 51, 52: Landlock controls no mode change, and the plugin's user owns what the host's
// user owns (root's files, on a root host): a run grant's program made /etc/passwd writable.
Deno.test("seccomp: under Landlock no mode, owner or extended attribute change; under bubblewrap only set-id bits refused", () => {
  for (
    const [call, args] of [
      [nr.chmod, [0, 0o644]],
      [nr.fchmod, [3, 0o644]],
      [nr.fchmodat, [-100, 0, 0o644]],
      [nr.fchmodat2, [-100, 0, 0o644, 0]],
    ] as const
  ) {
    const refused = call === nr.fchmod ? errno(0) : errno(1); // through a descriptor: ignored
    assert.equal(verdict(landlock, call, [...args]), refused, `call ${call} under Landlock`);
    assert.equal(verdict(bwrap, call, [...args]), ALLOW, `call ${call} under bubblewrap`);
  }
  // Nor an owner or an extended attribute (a POSIX ACL rewrites the mode: review 53).
  for (const [name, call] of Object.entries(X86_64.metadata)) {
    assert.equal(verdict(landlock, call, [0, 0, 0]), errno(1), `${name} under Landlock`);
    assert.equal(verdict(bwrap, call, [0, 0, 0]), ALLOW, `${name} under bubblewrap`);
  }
});

Deno.test("seccomp: priorities, limits and placement of itself only", () => {
  assert.equal(verdict(bwrap, nr.setpriority, [0, 0, 10]), ALLOW);
  assert.equal(verdict(bwrap, nr.setpriority, [0, 1234, 19]), errno(1), "another process");
  assert.equal(verdict(bwrap, nr.setpriority, [2, 0, 19]), errno(1), "every process of the user");
  assert.equal(verdict(bwrap, nr.prlimit64, [0, 7, 1, 0]), ALLOW);
  assert.equal(verdict(bwrap, nr.prlimit64, [1234, 7, 1, 0]), errno(1));
  assert.equal(verdict(bwrap, nr.sched_setaffinity, [1234, 8, 0]), errno(1));
  assert.equal(verdict(bwrap, nr.ioprio_set, [1, 0, 0]), ALLOW);
  assert.equal(verdict(bwrap, nr.ioprio_set, [1, 1234, 0]), errno(1));
});

Deno.test("seccomp: socket families: known ones under bubblewrap, TCP over IP only under Landlock; Unix sockets only for the relay, netlink only for routes", () => {
  const [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_VSOCK] = [1, 2, 10, 16, 17, 40];
  const relay = { landlock: false, unixSockets: true };
  for (const family of [AF_INET, AF_INET6]) {
    assert.equal(verdict(bwrap, nr.socket, [family, 2, 0]), ALLOW, `family ${family}`);
  }
  for (const family of [AF_PACKET, AF_VSOCK, 38]) {
    assert.equal(verdict(bwrap, nr.socket, [family, 1, 0]), errno(97), `family ${family}`);
    assert.equal(verdict(relay, nr.socket, [family, 1, 0]), errno(97), `family ${family}`);
  }
  // A socket file in a granted folder is a daemon's door (review 60).
  assert.equal(verdict(bwrap, nr.socket, [AF_UNIX, 1, 0]), errno(97), "a socket file by path");
  assert.equal(verdict(relay, nr.socket, [AF_UNIX, 1, 0]), ALLOW, "the relay's, to the proxy");
  assert.equal(
    verdict({ landlock: true, unixSockets: true }, nr.socket, [AF_UNIX, 1, 0]),
    errno(97),
    "never under Landlock",
  );
  for (const options of [bwrap, relay, landlock]) {
    assert.equal(verdict(options, nr.socket, [AF_NETLINK, 3, 0]), ALLOW, "routes");
    assert.equal(verdict(options, nr.socket, [AF_NETLINK, 3, 4]), errno(13), "the socket table");
    assert.equal(verdict(options, nr.socket, [AF_NETLINK, 3, 15]), errno(13), "device events");
  }
  const stream = 1 | 0x80000 | 0x800; // SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK
  assert.equal(verdict(landlock, nr.socket, [AF_INET, stream, 0]), ALLOW);
  assert.equal(verdict(landlock, nr.socket, [AF_INET6, 1, 6]), ALLOW);
  assert.equal(
    verdict(landlock, nr.socket, [AF_INET, 2, 0]),
    errno(13),
    "UDP: Landlock cannot see it",
  );
  assert.equal(verdict(landlock, nr.socket, [AF_INET, 1, 132]), errno(13), "SCTP");
  assert.equal(verdict(landlock, nr.socket, [AF_UNIX, 1, 0]), errno(97), "a socket file by path");
});

Deno.test("seccomp: a socket pair is Unix stream or sequenced only: an unbound datagram socket reaches any by path", () => {
  for (const options of [bwrap, landlock, { landlock: false, unixSockets: true }]) {
    assert.equal(verdict(options, nr.socketpair, [1, 1 | 0x80000, 0]), ALLOW, "stream");
    assert.equal(verdict(options, nr.socketpair, [1, 5, 0]), ALLOW, "seqpacket");
    assert.equal(verdict(options, nr.socketpair, [1, 2, 0]), errno(13), "datagram");
    assert.equal(verdict(options, nr.socketpair, [2, 1, 0]), errno(97), "not Unix");
  }
});

Deno.test("seccomp: the launcher's second filter refuses the plugin Unix sockets, and nothing else", () => {
  const bytes = unixSocketRefusal("x86_64");
  const view = new DataView(bytes.buffer);
  const program: [number, number, number, number][] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    program.push([
      view.getUint16(i, true),
      view.getUint8(i + 2),
      view.getUint8(i + 3),
      view.getUint32(i + 4, true),
    ]);
  }
  const run = (call: number, args: number[], arch = 0xc000003e) =>
    runProgram(program, call, args, arch);
  assert.equal(run(nr.socket, [1, 1, 0]), errno(97));
  assert.equal(run(nr.socket, [2, 1, 0]), ALLOW);
  assert.equal(run(nr.socket, [16, 3, 4]), ALLOW, "the first filter's business");
  assert.equal(run(0, [1]), ALLOW, "read(1, ...)");
  assert.equal(run(nr.socket, [1, 1, 0], 0x40000003), KILL, "another ABI");
});

Deno.test("seccomp: under Landlock, which keeps the host's IPC namespace, no System V IPC or message queue; no inotify watch beside native code", () => {
  for (const [name, number] of Object.entries(X86_64.ipc)) {
    assert.equal(verdict(landlock, number), errno(1), name);
    // A queue's bytes count against its user's RLIMIT_MSGQUEUE, whatever the namespace (review
    // 164): bubblewrap's own IPC namespace has no queue the plugin did not make.
    const own = name === "mq_open" ? errno(1) : ALLOW;
    assert.equal(verdict(bwrap, number), own, `${name}: bubblewrap's own IPC namespace`);
  }
  assert.equal(
    verdict(landlock, nr.inotify_add_watch, [3, 0, 0x100]),
    ALLOW,
    "Deno checks watchFs",
  );
  assert.equal(
    verdict({ landlock: true, nativeCode: true }, nr.inotify_add_watch, [3, 0, 0x100]),
    errno(13),
  );
  assert.equal(verdict({ landlock: false, nativeCode: true }, nr.inotify_add_watch), ALLOW);
});

Deno.test("seccomp: listen is refused under Landlock only (on an unbound socket it binds a port Landlock never sees)", () => {
  assert.equal(verdict(landlock, nr.listen, [3, 8]), errno(13));
  assert.equal(verdict(bwrap, nr.listen, [3, 8]), ALLOW);
});

Deno.test("seccomp: before Landlock ABI 6, signals go only to the plugin itself", () => {
  const own = { landlock: true, signalsOnlyTo: 4242 };
  assert.equal(verdict(own, nr.kill, [4242, 15]), ALLOW);
  assert.equal(verdict(own, nr.kill, [0, 15]), ALLOW, "its own process group");
  assert.equal(verdict(own, nr.kill, [1, 9]), errno(1));
  assert.equal(verdict(own, nr.kill, [-1, 9]), errno(1), "everyone");
  assert.equal(verdict(own, nr.tgkill, [4242, 4243, 10]), ALLOW, "its own threads");
  assert.equal(verdict(own, nr.tgkill, [1, 1, 9]), errno(1));
  assert.equal(verdict(landlock, nr.kill, [1, 9]), ALLOW, "ABI 6 scopes signals itself");
});

Deno.test("seccomp: no file lease under either layer, other fcntl commands pass (review 143)", () => {
  const own = { landlock: true, signalsOnlyTo: 4242 };
  for (const options of [bwrap, landlock, own]) {
    assert.equal(verdict(options, nr.fcntl, [3, 1024, 0]), errno(13), "F_SETLEASE, F_RDLCK");
    assert.equal(verdict(options, nr.fcntl, [3, 1025, 0]), ALLOW, "F_GETLEASE");
    assert.equal(verdict(options, nr.fcntl, [3, 2, 1]), ALLOW, "F_SETFD");
  }
  assert.equal(verdict(own, nr.fcntl, [3, 8, 4242]), ALLOW, "F_SETOWN itself");
  assert.equal(verdict(own, nr.fcntl, [3, 8, 1]), errno(1), "F_SETOWN another");
  assert.equal(verdict(bwrap, nr.fcntl, [3, 8, 1]), ALLOW, "bubblewrap: its own PID namespace");
});

Deno.test("seccomp: no file lock, lease or folder notice; lock queries and watches for reads only beside native code (review 144)", () => {
  const native = { landlock: false, nativeCode: true };
  for (const options of [bwrap, landlock, native, { landlock: true, nativeCode: true }]) {
    assert.equal(verdict(options, nr.flock, [3, 2]), errno(37), "flock LOCK_EX");
    assert.equal(verdict(options, nr.flock, [3, 1]), errno(37), "flock LOCK_SH");
    assert.equal(verdict(options, nr.fcntl, [3, 1024, 1]), errno(13), "F_SETLEASE");
    assert.equal(verdict(options, nr.fcntl, [3, 1026, 1]), errno(1), "F_NOTIFY");
    assert.equal(verdict(options, nr.fcntl, [3, 6]), ALLOW, "F_SETLK: SQLite's own locks");
    assert.equal(verdict(options, nr.fcntl, [3, 1]), ALLOW, "F_GETFD");
  }
  for (const query of [5, 36]) {
    assert.equal(verdict(bwrap, nr.fcntl, [3, query]), ALLOW, "Deno's SQLite asks it");
    assert.equal(verdict(native, nr.fcntl, [3, query]), errno(37));
  }
  // Native code watches no read (IN_ACCESS, IN_CLOSE_NOWRITE, IN_OPEN); changes it may.
  for (const mask of [0x01, 0x10, 0x20, 0xfff]) {
    assert.equal(verdict(native, nr.inotify_add_watch, [3, 0, mask]), errno(13), `${mask}`);
    assert.equal(verdict(bwrap, nr.inotify_add_watch, [3, 0, mask]), ALLOW, "Deno checks watchFs");
  }
  assert.equal(verdict(native, nr.inotify_add_watch, [3, 0, 0x2 | 0x4 | 0x8 | 0x100]), ALLOW);
  // No native AIO context under either layer, with or without native code: their events are the
  // machine's (review 169).
  for (const options of [bwrap, native, { landlock: true }, { landlock: true, nativeCode: true }]) {
    assert.equal(verdict(options, nr.io_setup, [64, 0]), errno(38));
  }
  // No inotify instance beside native code under either layer: they count against the host's
  // user (review 169). Deno's own watchFs, without native code, keeps its one.
  for (const call of [nr.inotify_init, nr.inotify_init1]) {
    assert.equal(verdict(native, call, [0]), errno(13));
    assert.equal(verdict({ landlock: true, nativeCode: true }, call, [0]), errno(13));
    assert.equal(verdict(bwrap, call, [0]), ALLOW, "Deno checks watchFs");
  }
  // The owner rule still holds beside them.
  const own = { landlock: true, signalsOnlyTo: 77 };
  assert.equal(verdict(own, nr.fcntl, [3, 8, 77]), ALLOW);
  assert.equal(verdict(own, nr.fcntl, [3, 8, 78]), errno(1));
  assert.equal(verdict(own, nr.fcntl, [3, 15, 77]), errno(1));
  assert.equal(verdict(own, nr.fcntl, [3, 1024, 1]), errno(13));
});
