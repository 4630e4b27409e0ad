/**
 * The seccomp filter both OS layers install: a classic BPF program, built
 * here in TypeScript, that refuses the system calls no plugin needs
 * (namespaces, ptrace and reading other processes' memory, keyrings, bpf,
 * perf, mounts, modules, kexec, reboot, swap, raw I/O ports, userfaultfd,
 * io_uring, native AIO, clock and quota changes, file handles) and the arguments that
 * reach outside the sandbox or raise privileges (set-UID and set-GID modes,
 * priorities and limits of other processes, socket families plugbox does not
 * know, a file's lease). System calls newer than the tables are refused too,
 * so a kernel that grows cannot widen what a plugin gets. Numbers come from
 * the kernel's `unistd_64.h` (x86_64) and `asm-generic/unistd.h` (aarch64).
 * @module
 */

/** Architectures the filter knows; elsewhere the OS layers run without it (and say so). */
export type SeccompArch = "x86_64" | "aarch64";

/** How strict the socket rules are. */
export interface SeccompOptions {
  /**
   * The Landlock layer: no network namespace holds the plugin, so IPv4 and
   * IPv6 sockets may only be TCP (which Landlock limits by port), and no
   * Unix socket may be opened (Landlock cannot tell a socket file's path),
   * and nothing may `listen` (on an unbound socket it binds a port Landlock never sees).
   */
  landlock: boolean;
  /**
   * Signals may only go to the plugin itself (`pid` or its own process
   * group): for Landlock before ABI 6, which cannot scope signals. That
   * includes the signals a descriptor's owner gets (SIGIO, SIGURG): no owner
   * but `pid` (review 87).
   */
  signalsOnlyTo?: number;
  /**
   * bubblewrap with the egress relay: Unix sockets may be opened, for the
   * relay's connections to the proxy. The launcher then installs
   * {@linkcode unixSocketRefusal} for the plugin alone before it runs.
   * Otherwise no Unix socket is opened at all: a read-only mount does not
   * stop `connect()` to a socket file in a granted folder (an ssh agent, a
   * container daemon), and the kernel's checks pass a plugin that runs as
   * the host's user (review 60).
   */
  unixSockets?: boolean;
  /**
   * Native code runs (a `run`, `ffi` or `all` grant, or a command plugin).
   * Under both layers: no query of another process's record lock (`F_GETLK`,
   * `F_OFD_GETLK`), which told one plugin the lock another held on a file
   * both may only read, its interpreter say, and no inotify watch for reads,
   * which saw the other open it (review 144); Deno's own SQLite caches ask
   * the first, and a plugin granted nothing cannot make Deno ask either.
   * No inotify instance at all under either layer: instances count against
   * the host's user in every namespace (review 169).
   * Under Landlock also: no inotify watch at all, which Landlock does not
   * control, so a program could see the names of files made in folders it may
   * not list (review 60); and no file's times set by its path, which Landlock
   * does not control either (review 87: any file the host's user owns,
   * outside every rule). Times set through a descriptor stay: Landlock
   * checked its open. Deno's own `watchFs` and `utime` check permissions
   * first, so they are refused only here.
   */
  nativeCode?: boolean;
  /**
   * With `nativeCode`, record-lock queries allowed (`unsafe.lockQueries`):
   * SQLite's crash recovery, `PERSIST` and WAL need them (review 152).
   */
  lockQueries?: boolean;
}

import { AARCH64, type SyscallTable, X86_64 } from "./seccomp_tables.ts";

// BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JSET_K = 0x45;
const AND_K = 0x54;
const RET_K = 0x06;
const ALLOW = 0x7fff0000;
const KILL_PROCESS = 0x80000000;
const errno = (n: number) => 0x00050000 | n;
const EPERM = errno(1);
/** Not run, and answered as done: a call whose effect is dropped without failing its caller. */
const IGNORED = errno(0);
const EACCES = errno(13);
const ENOLCK = errno(37);
const ENOSYS = errno(38);
const EAFNOSUPPORT = errno(97);
const EOPNOTSUPP = errno(95);

const NR = 0;
const ARCH = 4;
const arg = (i: number) => 16 + 8 * i; // the low 32 bits (little-endian)

// Flags and bits the rules look at.
const CLONE_NEW = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 |
  0x10000000 | 0x20000000 | 0x40000000;
const SET_ID_BITS = 0o6000;
const O_CREAT_OR_TMPFILE = 0x40 | 0x400000;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const NETLINK_ROUTE = 0;
const SOCK_STREAM = 1;
const SOCK_SEQPACKET = 5;
const IPPROTO_TCP = 6;

type Instruction = [code: number, jt: number, jf: number, k: number];

/** A step of a rule written with labels: a jump names where it goes ("next" falls through). */
type Step = Instruction | [code: number, jt: string, jf: string, k: number] | { label: string };

/** Resolves labelled jumps into BPF's forward offsets. */
function assemble(steps: Step[]): Instruction[] {
  const at = new Map<string, number>();
  let count = 0;
  for (const step of steps) {
    if ("label" in step) at.set(step.label, count);
    else count++;
  }
  const out: Instruction[] = [];
  const offset = (target: string | number) => {
    if (typeof target === "number") return target;
    if (target === "next") return 0;
    const to = at.get(target);
    if (to === undefined || to <= out.length) throw new Error(`seccomp: bad jump to ${target}`);
    return to - out.length - 1;
  };
  for (const step of steps) {
    if ("label" in step) continue;
    const [code, jt, jf, k] = step;
    out.push([code, offset(jt), offset(jf), k]);
  }
  return out;
}

/** A block that handles one system call and always returns. */
type Rule = { nr: number | undefined; body: Instruction[] };

const ret = (value: number): Instruction => [RET_K, 0, 0, value];
const load = (offset: number): Instruction => [LD_W_ABS, 0, 0, offset];

/** Returns `deny` when the argument has any of `bits`, else allows. */
function argHasNone(index: number, bits: number, deny = EPERM): Instruction[] {
  return [load(arg(index)), [JSET_K, 0, 1, bits], ret(deny), ret(ALLOW)];
}

/** Allows only when every listed argument equals its value. */
function argsEqual(pairs: [index: number, value: number][]): Instruction[] {
  const body: Instruction[] = [];
  pairs.forEach(([index, value], i) => {
    const left = (pairs.length - i - 1) * 2; // instructions after this check, before ALLOW
    body.push(load(arg(index)), [JEQ_K, 0, left + 1, value]);
  });
  return [...body, ret(ALLOW), ret(EPERM)];
}

/**
 * utimensat: through a descriptor only (a null path, both halves of the
 * pointer: a mapping can sit at an address whose low half is zero), as
 * `futimens` calls it; Landlock checked that descriptor's open.
 */
function timesByDescriptor(): Instruction[] {
  return [
    load(arg(1)),
    [JEQ_K, 0, 3, 0],
    load(arg(1) + 4),
    [JEQ_K, 0, 1, 0],
    ret(ALLOW),
    ret(EPERM),
  ];
}

const F_SETOWN = 8;
const F_SETOWN_EX = 15;
const F_SETLEASE = 1024;
const FIOSETOWN = 0x8901;
const SIOCSPGRP = 0x8902;

const F_GETLK = 5;
const F_OFD_GETLK = 36;
const F_NOTIFY = 1026;

/**
 * fcntl. Never a lease (`F_SETLEASE`), whose holder decides when another's
 * open of the file returns: the owner of a file it may only read took one,
 * and the host's write to the file waited for as long as it held it, up to
 * the kernel's lease-break-time (45 s) at each open (review 143); its break
 * also tells the holder of another's open (review 144). Never a directory
 * notice (`F_NOTIFY`, whose `DN_ACCESS` tells it of reads in a folder other
 * sandboxes read; review 144). Both under both layers. With `nativeCode`, no
 * query of record locks (see {@linkcode SeccompOptions.nativeCode}), but with
 * `lockQueries`. With `own`, `F_SETOWN` only to `own` or 0 (none), never
 * `F_SETOWN_EX`, whose owner is in memory. Every other command allowed.
 */
function fcntlRule(own: number | undefined, refuseQueries: boolean): Instruction[] {
  const queries: Step[] = refuseQueries
    ? [[JEQ_K, "nolock", "next", F_GETLK], [JEQ_K, "nolock", "next", F_OFD_GETLK]]
    : [];
  const owner: Step[] = own === undefined ? [] : [
    [JEQ_K, "owner", "next", F_SETOWN],
    [JEQ_K, "refuse", "allow", F_SETOWN_EX],
    { label: "owner" },
    load(arg(2)),
    [JEQ_K, "allow", "next", own],
    [JEQ_K, "allow", "refuse", 0],
  ];
  return assemble([
    load(arg(1)),
    [JEQ_K, "lease", "next", F_SETLEASE],
    [JEQ_K, "refuse", "next", F_NOTIFY],
    ...queries,
    ...owner,
    { label: "allow" },
    ret(ALLOW),
    { label: "nolock" },
    ret(ENOLCK),
    { label: "refuse" },
    ret(EPERM),
    { label: "lease" },
    ret(EACCES), // as the kernel answers one who may not take a lease
  ]);
}

/**
 * inotify events a read makes (`IN_ACCESS`, `IN_CLOSE_NOWRITE`, `IN_OPEN`),
 * refused to native code: its watch on a file every sandbox may read (an
 * interpreter, a library) saw another plugin open it (review 144). Events
 * of a change stay: no plugin may change a file another may only read.
 * Deno's `watchFs` asks for `IN_OPEN` too, so beside native code it fails
 * (`PermissionDenied`, documented; review 152); a plugin without native code
 * has no such rule, and Deno checks its read grant first.
 */
const INOTIFY_READ_EVENTS = 0x01 | 0x10 | 0x20;

/**
 * ioctl requests that change a file's metadata through any descriptor, one
 * opened read-only included, which Landlock allows for a file it may only
 * read and then checks no more (its IOCTL_DEV right is for devices): inode
 * flags and the project id (`FS_IOC_SETFLAGS`, both sizes, and
 * `FS_IOC_FSSETXATTR`, what `file_setattr` does by path), the generation,
 * fs-verity (a file made read-only for good) and an encryption policy
 * (review 88: native code set the nodump flag of a file it could only read).
 */
const FILE_METADATA_IOCTLS = [
  0x40086602, // FS_IOC_SETFLAGS
  0x40046602, // FS_IOC32_SETFLAGS
  0x401c5820, // FS_IOC_FSSETXATTR
  0x40087602, // FS_IOC_SETVERSION
  0x40047602, // FS_IOC32_SETVERSION
  // ext4's own number for the same (review 143: it set the generation of a file opened read-only).
  0x40086604, // EXT4_IOC_SETVERSION
  0x40046604, // EXT4_IOC32_SETVERSION
  0x40806685, // FS_IOC_ENABLE_VERITY
  0x800c6613, // FS_IOC_SET_ENCRYPTION_POLICY
];

/**
 * ioctl: no descriptor owner set when `owner` (its pid is in memory), no
 * file metadata changed when `metadata`; every other request allowed. One
 * rule for both: the first rule for a call number is the only one that runs.
 */
function ioctlRule(refuse: { owner: boolean; metadata: boolean }): Instruction[] {
  const requests = [
    ...(refuse.owner ? [FIOSETOWN, SIOCSPGRP] : []),
    ...(refuse.metadata ? FILE_METADATA_IOCTLS : []),
  ];
  return assemble([
    load(arg(1)),
    ...requests.map((request): Step => [JEQ_K, "refuse", "next", request]),
    ret(ALLOW),
    { label: "refuse" },
    ret(EPERM),
  ]);
}

/** open/openat/creat/mknod: no set-UID or set-GID mode on a file it creates. */
function createMode(modeArg: number, flagsArg?: number): Instruction[] {
  if (flagsArg === undefined) return argHasNone(modeArg, SET_ID_BITS);
  return [
    load(arg(modeArg)),
    [JSET_K, 0, 3, SET_ID_BITS],
    load(arg(flagsArg)),
    [JSET_K, 0, 1, O_CREAT_OR_TMPFILE],
    ret(EPERM),
    ret(ALLOW),
  ];
}

/**
 * Socket families plugbox knows. Netlink only for routes (interfaces and
 * addresses, as a C library asks): the socket table (`ss`), audit and the
 * kernel's device events are another family's business (review 60). Unix
 * sockets only where {@linkcode SeccompOptions.unixSockets} says. The
 * Landlock layer allows only TCP over IP.
 */
function socketRule(options: SeccompOptions): Instruction[] {
  const unix = !options.landlock && options.unixSockets ? ALLOW : EAFNOSUPPORT;
  return assemble([
    load(arg(0)),
    [JEQ_K, "ip", "next", AF_INET],
    [JEQ_K, "ip", "next", AF_INET6],
    [JEQ_K, "netlink", "next", AF_NETLINK],
    [JEQ_K, "next", "unknown", AF_UNIX],
    ret(unix),
    { label: "unknown" },
    ret(EAFNOSUPPORT),
    { label: "netlink" },
    load(arg(2)),
    [JEQ_K, "allow", "refuse", NETLINK_ROUTE],
    { label: "ip" },
    ...(options.landlock
      ? [
        load(arg(1)),
        [AND_K, 0, 0, 0xf] as Instruction,
        [JEQ_K, "next", "refuse", SOCK_STREAM] as Step,
        load(arg(2)),
        [JEQ_K, "allow", "next", 0] as Step,
        [JEQ_K, "allow", "refuse", IPPROTO_TCP] as Step,
      ]
      : []),
    { label: "allow" },
    ret(ALLOW),
    { label: "refuse" },
    ret(EACCES),
  ]);
}

/**
 * A pair of connected Unix sockets, stream or sequenced: nothing else. A
 * datagram socket of a pair starts unbound, and `sendto()` reaches any
 * datagram socket by path (a system log, a journal, a service's notify
 * socket), which Landlock does not control (review 61).
 */
function socketpairRule(): Instruction[] {
  return assemble([
    load(arg(0)),
    [JEQ_K, "next", "family", AF_UNIX],
    load(arg(1)),
    [AND_K, 0, 0, 0xf] as Instruction,
    [JEQ_K, "allow", "next", SOCK_STREAM],
    [JEQ_K, "allow", "refuse", SOCK_SEQPACKET],
    { label: "allow" },
    ret(ALLOW),
    { label: "refuse" },
    ret(EACCES),
    { label: "family" },
    ret(EAFNOSUPPORT),
  ]);
}

/**
 * The launcher's second filter under bubblewrap with the egress relay: no
 * Unix socket for the plugin (the first, bubblewrap's, lets the relay open
 * them). Filters stack; the stricter answer wins.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unixSocketRefusal } from "./seccomp.ts";
 * assert.equal(unixSocketRefusal("x86_64").length % 8, 0);
 * ```
 */
export function unixSocketRefusal(arch: SeccompArch): Uint8Array {
  const t = arch === "x86_64" ? X86_64 : AARCH64;
  return encode(assemble([
    load(ARCH),
    [JEQ_K, "next", "kill", t.audit],
    load(NR),
    [JEQ_K, "next", "allow", t.nr.socket],
    load(arg(0)),
    [JEQ_K, "next", "allow", AF_UNIX],
    ret(EAFNOSUPPORT),
    { label: "allow" },
    ret(ALLOW),
    { label: "kill" },
    ret(KILL_PROCESS),
  ]));
}

function rules(t: SyscallTable, options: SeccompOptions): Rule[] {
  const n = t.nr;
  const own = options.signalsOnlyTo;
  const signalRules: Rule[] = own === undefined ? [] : [
    // kill(pid, sig): itself, or its own process group (0).
    {
      nr: n.kill,
      body: [load(arg(0)), [JEQ_K, 1, 0, own], [JEQ_K, 0, 1, 0], ret(ALLOW), ret(EPERM)],
    },
    { nr: n.tgkill, body: argsEqual([[0, own]]) },
    { nr: n.rt_tgsigqueueinfo, body: argsEqual([[0, own]]) },
    { nr: n.rt_sigqueueinfo, body: argsEqual([[0, own]]) },
    { nr: n.tkill, body: [ret(EPERM)] }, // a bare thread id may be anyone's
    { nr: n.pidfd_send_signal, body: [ret(EPERM)] },
  ];
  const ioctl = { owner: own !== undefined, metadata: options.landlock };
  const all: Rule[] = [
    ...Object.values(t.refused).map((nr): Rule => ({ nr, body: [ret(EPERM)] })),
    // A lock is the file's, not the sandbox's: one plugin held it on a file every sandbox may read
    // (its interpreter, Deno), and another, of another name, read the bit (review 144). Without
    // an exclusive lock, shared ones never conflict; no lock at all is simpler, and said so.
    { nr: n.flock, body: [ret(ENOLCK)] },
    // A descriptor's owner is who gets its SIGIO (whose default action ends a process) and SIGURG:
    // itself or no one, before Landlock ABI 6 (review 87: a socket owned by another process ended
    // it with a write). No lease and no folder notice under either layer (reviews 143, 144).
    {
      nr: n.fcntl,
      body: fcntlRule(own, options.nativeCode === true && options.lockQueries !== true),
    },
    ...(options.nativeCode
      ? [{
        nr: n.inotify_add_watch,
        body: options.landlock ? [ret(EACCES)] : argHasNone(2, INOTIFY_READ_EVENTS, EACCES),
      }]
      : []),
    // No inotify instance beside native code, under both layers: instances count against the
    // host's real user in every user namespace (fs.inotify.max_user_instances, 128 by default,
    // root's too), and a Python plugin granted nothing took all 128, so its host's Deno.watchFs,
    // and every other process of that user (systemd's, on a root host), failed with EMFILE (review
    // 169); one instance also holds watches up to the user's max_user_watches. Deno's own watchFs
    // makes no instance a watcher (200 held, past the 128), and checks its read grant first.
    ...(options.nativeCode
      ? [n.inotify_init, n.inotify_init1].map((nr): Rule => ({ nr, body: [ret(EACCES)] }))
      : []),
    // No Linux native AIO context: their events count against the machine's fs.aio-max-nr (65,536),
    // every user's, root's too, and a Python plugin granted nothing took all of it, so its host's
    // and every other process's io_setup failed with EAGAIN (review 169). Answered as a kernel built
    // without AIO does, so libaio users fall back to threads; POSIX aio (glibc) runs on threads.
    { nr: n.io_setup, body: [ret(ENOSYS)] },
    // clone3 passes its flags in memory, which a filter cannot read: C libraries fall back to clone.
    { nr: n.clone3, body: [ret(ENOSYS)] },
    { nr: n.openat2, body: [ret(ENOSYS)] }, // its mode is in memory too
    { nr: n.clone, body: argHasNone(0, CLONE_NEW) },
    // Only the query (0xffffffff) and plain Linux personality.
    {
      nr: n.personality,
      body: [load(arg(0)), [JEQ_K, 1, 0, 0xffffffff], [JEQ_K, 0, 1, 0], ret(ALLOW), ret(EPERM)],
    },
    // Priorities, limits and memory placement: of itself only (0), never another process.
    { nr: n.setpriority, body: argsEqual([[0, 0], [1, 0]]) },
    { nr: n.prlimit64, body: argsEqual([[0, 0]]) },
    { nr: n.sched_setparam, body: argsEqual([[0, 0]]) },
    { nr: n.sched_setscheduler, body: argsEqual([[0, 0]]) },
    { nr: n.sched_setaffinity, body: argsEqual([[0, 0]]) },
    { nr: n.sched_setattr, body: argsEqual([[0, 0]]) },
    { nr: n.ioprio_set, body: argsEqual([[0, 1], [1, 0]]) },
    { nr: n.migrate_pages, body: argsEqual([[0, 0]]) },
    { nr: n.move_pages, body: argsEqual([[0, 0]]) },
    { nr: n.socket, body: socketRule(options) },
    { nr: n.socketpair, body: socketpairRule() },
    // Under Landlock, listen() on a socket that was never bound binds a port by itself, on every
    // address, where Landlock's bind rule never looks; and Landlock lets the plugin bind nothing,
    // so no listen is ever one a plugin could need there.
    ...(options.landlock ? [{ nr: n.listen, body: [ret(EACCES)] }] : []),
    // No set-UID or set-GID file, however it is made. Under Landlock, which controls no change of
    // a file's metadata, no mode, owner or extended attribute change at all: the plugin runs as
    // the host's user (root's uid, without capabilities, on a root host), which may change them on
    // every file it owns, one it may not even read included: a run grant's program made
    // /etc/passwd and the SDK's code cache writable to every local user, by chmod or by a POSIX
    // ACL (reviews 51 to 53). A mode set through a descriptor (Deno's copyFile, writeFile with a
    // mode: the file was just made with one) is ignored, not refused, so those still work.
    ...(options.landlock
      ? [
        ...[n.chmod, n.fchmodat, n.fchmodat2].map((nr): Rule => ({ nr, body: [ret(EPERM)] })),
        { nr: n.fchmod, body: [ret(IGNORED)] },
        ...Object.values(t.metadata).map((nr): Rule => ({ nr, body: [ret(EPERM)] })),
        // System V IPC and POSIX message queues: the Landlock layer keeps the host's IPC
        // namespace, so a segment the host made was a program's to read and remove (review 60).
        ...Object.values(t.ipc).map((nr): Rule => ({ nr, body: [ret(EPERM)] })),
        ...(options.nativeCode
          ? [
            ...[n.utime, n.utimes, n.futimesat].map((nr): Rule => ({ nr, body: [ret(EPERM)] })),
            { nr: n.utimensat, body: timesByDescriptor() },
            // Extended attributes read by path, which Landlock does not check either: native code
            // read a value (a token, a download's origin) of a file outside every rule (review 93).
            // Through a descriptor Landlock let it open they stay; by path, none is supported.
            ...[n.getxattr, n.lgetxattr, n.listxattr, n.llistxattr, n.getxattrat, n.listxattrat]
              .map((nr): Rule => ({ nr, body: [ret(EOPNOTSUPP)] })),
          ]
          : []),
      ]
      : [
        // POSIX message queues: the OS layer's IPC namespace is the sandbox's own, but a queue's
        // bytes count against its user's RLIMIT_MSGQUEUE, which every process of that user shares
        // (root's, on a root host): a plugin granted nothing took all 819,200 bytes in 9 queues,
        // and its host's own mq_open failed (review 164). The namespace holds no queue the plugin
        // did not make, so refusing the open takes nothing else from it.
        { nr: t.ipc.mq_open, body: [ret(EPERM)] },
        { nr: n.chmod, body: argHasNone(1, SET_ID_BITS) },
        { nr: n.fchmod, body: argHasNone(1, SET_ID_BITS) },
        { nr: n.fchmodat, body: argHasNone(2, SET_ID_BITS) },
        { nr: n.fchmodat2, body: argHasNone(2, SET_ID_BITS) },
      ]),
    { nr: n.creat, body: createMode(1) },
    { nr: n.mknod, body: createMode(1) },
    { nr: n.mknodat, body: createMode(2) },
    { nr: n.open, body: createMode(2, 1) },
    { nr: n.openat, body: createMode(3, 2) },
    ...signalRules,
    ...(ioctl.owner || ioctl.metadata ? [{ nr: n.ioctl, body: ioctlRule(ioctl) }] : []),
  ];
  return all.filter((rule) => rule.nr !== undefined);
}

/** The instructions of the whole program. */
export function seccompInstructions(arch: SeccompArch, options: SeccompOptions): Instruction[] {
  const t = arch === "x86_64" ? X86_64 : AARCH64;
  const program: Instruction[] = [
    load(ARCH),
    [JEQ_K, 1, 0, t.audit],
    ret(KILL_PROCESS), // another ABI's numbers (i386 on x86_64) mean other calls: never allowed
    load(NR),
    ...(t.x32 === undefined ? [] : [[JSET_K, 0, 1, t.x32] as Instruction, ret(EPERM)]),
    [JGT_K, 0, 1, t.max],
    ret(ENOSYS),
  ];
  for (const rule of rules(t, options)) {
    if (rule.body.length > 255) throw new Error("seccomp rule too long for a BPF jump");
    // Each body ends in a return, so the accumulator (the call number) is reloaded after none.
    program.push([JEQ_K, 0, rule.body.length, rule.nr!], ...rule.body);
  }
  program.push(ret(ALLOW));
  return program;
}

/** This machine's architecture, if the filter knows it. */
export function seccompArch(): SeccompArch | undefined {
  if (Deno.build.os !== "linux") return undefined;
  return Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64"
    ? Deno.build.arch
    : undefined;
}

/**
 * The filter as the kernel takes it: `struct sock_filter` entries, 8 bytes
 * each (what bubblewrap's `--seccomp` reads from a file descriptor).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seccompProgram } from "./seccomp.ts";
 * const bytes = seccompProgram("x86_64", { landlock: false });
 * assert.equal(bytes.length % 8, 0);
 * ```
 */
export function seccompProgram(arch: SeccompArch, options: SeccompOptions): Uint8Array {
  return encode(seccompInstructions(arch, options));
}

/** `struct sock_filter` entries, 8 bytes each. */
function encode(program: Instruction[]): Uint8Array {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, true);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k >>> 0, true);
  });
  return bytes;
}
