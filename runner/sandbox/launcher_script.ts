/**
 * plugbox's launcher: a short Deno script, run with `--allow-ffi` for libc
 * only, that confines its own thread and then `execve()`s the plugin. It
 * sets no-new-privileges, applies a Landlock ruleset (the Landlock layer),
 * starts the egress relay (bubblewrap with a net grant), installs the
 * seccomp filter, drops every capability, and replaces itself with the
 * plugin's program.
 *
 * Why this covers every thread of the plugin: Landlock's `restrict_self`,
 * seccomp's filter and no-new-privileges apply to the calling thread, and
 * the launcher makes each of those calls and then `execve()` from one
 * thread, its JavaScript main thread (FFI calls run there). `execve()` ends
 * every other thread of the launcher and starts the new program with that
 * one thread, restrictions included; every thread and process the plugin
 * makes afterwards inherits them. The launcher's own other threads (V8's and
 * Tokio's) run only the launcher's code until then.
 *
 * The function below is the script: it is written to the cache as text
 * (`String(launcherMain)`), so it uses nothing from outside itself.
 * @module
 */

/**
 * What the launcher does, passed as JSON in pieces (their count, then the
 * pieces: `specArgs`); the program to exec and its arguments follow.
 */
export interface LauncherSpec {
  /** `"probe"`: print the Landlock ABI and exit; `"launch"`: confine and exec. */
  mode: "probe" | "launch";
  /** The C library to call through FFI. */
  libc: string;
  /** System call numbers for this architecture. */
  nr: { prctl: number; seccomp: number; capset: number; prlimit64: number; fcntl: number };
  /**
   * Variables changed in the program's environment: the launcher runs with
   * a Deno dir of its own, and sets the plugin's back (`null` removes one).
   */
  setEnv?: Record<string, string | null>;
  /**
   * The names of the environment to pass on (the plan's): Deno adds
   * variables of its own to the launcher's environment, which must not reach
   * the plugin.
   */
  keepEnv: string[];
  /** The Landlock ruleset, for the Landlock layer. */
  landlock?: {
    /** The lowest ABI that holds the layer's promises. */
    minAbi: number;
    readOnly: string[];
    readWrite: string[];
    /** Folders that may be listed, and no more (`/proc/self`: its entries are in `readOnly`). */
    listOnly?: string[];
    /** TCP ports it may connect to (the egress proxy's). */
    connectPorts: number[];
  };
  /** The seccomp program (struct sock_filter entries), base64. */
  seccomp?: string;
  /** In the seccomp program, this value stands for the launcher's (and so the plugin's) pid. */
  pidPlaceholder?: number;
  /**
   * RLIMIT_DATA for the program, set just before the exec: the relay is Deno
   * and needs more address space than a command plugin's limit. The launcher
   * runs on under it until the exec, so it allocates nothing after it
   * (launcher.ts keeps its own writable memory far below any limit set).
   */
  dataLimitBytes?: number;
  /**
   * A descriptor open on the `tasks` file of the plugin's own memory cgroup (the prologue's,
   * prologue.ts): closed at every exec from the start, so the relay never holds it, and written
   * just before the plugin's exec, which moves this thread, and so the plugin, into that cgroup
   * while the relay stays in the one that holds it (review 163).
   */
  cgroupFd?: number;
  /**
   * The line written on stderr just before the plugin's exec, where the launcher is plugbox's
   * last step (start_verdict.ts's `EXEC_MARK`): what stderr holds before it is plugbox's own, so
   * a failure here is a verdict, `plugbox refused launcher: …`. Not written, the plugin never runs.
   */
  execMark?: string;
  /** A helper started before the exec (the egress relay), which prints "ready" once listening. */
  relay?: { program: string; args: string[]; env: Record<string, string> };
}

/**
 * The launcher's whole program. Runs as a script of its own (so one
 * function, its steps inner functions); exits with 125 and a line on stderr
 * when any step fails, so the plugin never runs unconfined.
 */
export async function launcherMain(): Promise<void> {
  // The spec comes in pieces, each within the kernel's limit on one argument (command_line.ts).
  const parts = Number(Deno.args[0]);
  const spec = JSON.parse(Deno.args.slice(1, 1 + parts).join("")) as LauncherSpec;
  const fail = (what: string): never => {
    // start_verdict.ts's VERDICT: before the exec mark, plugbox's own verdict on the start.
    console.error(`plugbox refused launcher: ${what}`);
    Deno.exit(125);
  };
  const libc = Deno.dlopen(spec.libc, {
    syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
    // The same call, answering a number that needs no allocation (below the data limit).
    rawSyscall: { name: "syscall", parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i32" },
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // The same call, answering a number that needs no allocation (below the data limit).
    markWrite: { name: "write", parameters: ["i32", "buffer", "usize"], result: "i32" },
    execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  });
  const c = libc.symbols;
  const errno = () => new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
  const address = (bytes: Uint8Array) =>
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const sys = (...args: (number | bigint)[]): bigint => {
    const all = [...args.map(BigInt), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
    return c.syscall(all[0], all[1], all[2], all[3], all[4], all[5]) as bigint;
  };
  const must = (result: bigint, what: string) => {
    if (result < 0n) fail(`${what} failed (errno ${errno()})`);
    return result;
  };
  const LANDLOCK_CREATE = 444, LANDLOCK_ADD = 445, LANDLOCK_RESTRICT = 446;
  const abi = Number(sys(LANDLOCK_CREATE, 0, 0, 1)); // LANDLOCK_CREATE_RULESET_VERSION
  if (spec.mode === "probe") {
    console.log(JSON.stringify({ landlockAbi: abi < 0 ? 0 : abi }));
    Deno.exit(0);
  }

  /** The relay binds the sandbox's loopback ports before the plugin can; it outlives this process as the plugin's child, and dies with the sandbox. */
  const startRelay = async (relay: NonNullable<LauncherSpec["relay"]>) => {
    const child = new Deno.Command(relay.program, {
      args: relay.args,
      env: relay.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await Promise.race([
      reader.read(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
    ]);
    if (!first || first.done || !new TextDecoder().decode(first.value).startsWith("ready")) {
      fail("the egress relay did not start");
    }
    reader.releaseLock();
  };

  /** The Landlock ruleset: paths by rights, TCP ports, scopes; then restrict_self. */
  const applyLandlock = (ll: NonNullable<LauncherSpec["landlock"]>) => {
    if (abi < ll.minAbi) fail(`Landlock ABI ${abi} is below ${ll.minAbi}`);
    // Rights this ABI knows: 13 (ABI 1), REFER (2), TRUNCATE (3), IOCTL_DEV (5).
    const fsBits = abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13;
    const allFs = (1n << BigInt(fsBits)) - 1n;
    const FILE_ONLY = 1n | 2n | 4n | (1n << 14n) | (1n << 15n); // execute, write, read, truncate, ioctl
    const READ = 1n | 4n | 8n; // execute, read file, read dir
    const attr = new BigUint64Array([allFs, abi >= 4 ? 3n : 0n, abi >= 6 ? 3n : 0n]);
    const size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
    const ruleset = must(
      sys(LANDLOCK_CREATE, address(new Uint8Array(attr.buffer)), size, 0),
      "Landlock ruleset",
    );
    // A rule holds the inode its path had. A /proc entry's inode lives only as long as its
    // dentry, which the kernel frees when unused and makes anew on the next lookup, which no
    // rule then names (review 88: after the dentries were dropped, /proc/self/statm and maps were
    // refused and Deno.memoryUsage() said 0). Its descriptor stays open across execve, which pins it.
    const addPath = (path: string, access: bigint, pin = false) => {
      // O_PATH, and O_CLOEXEC unless pinned
      const fd = c.open(text(path), 0o10000000 | (pin ? 0 : 0o2000000));
      if (fd < 0) return; // not there: nothing to allow
      const rule = new Uint8Array(12);
      const view = new DataView(rule.buffer);
      view.setBigUint64(0, access & allFs, true);
      view.setInt32(8, fd, true);
      let done = sys(LANDLOCK_ADD, ruleset, 1, address(rule), 0);
      // A file takes only file rights (EINVAL otherwise). Retried on any failure, not on errno 22:
      // errno is read through FFI after the call, and under load the value read was not the
      // call's (errno 2, which landlock_add_rule never returns); the retry grants fewer rights.
      if (done < 0n) {
        view.setBigUint64(0, access & allFs & FILE_ONLY, true);
        done = sys(LANDLOCK_ADD, ruleset, 1, address(rule), 0);
      }
      if (!pin) c.close(fd);
      must(done, `Landlock rule for "${path}"`);
    };
    const own = (path: string) => path.replace(/^\/proc\/self(?=\/|$)/, `/proc/${Deno.pid}`);
    const proc = (path: string) => path.startsWith("/proc/self");
    for (const path of ll.readOnly) addPath(own(path), READ, proc(path));
    for (const path of ll.listOnly ?? []) addPath(own(path), 8n, proc(path)); // READ_DIR
    for (const path of ll.readWrite) addPath(path, allFs);
    for (const port of abi >= 4 ? ll.connectPorts : []) {
      const rule = new BigUint64Array([2n, BigInt(port)]); // LANDLOCK_ACCESS_NET_CONNECT_TCP
      must(sys(LANDLOCK_ADD, ruleset, 2, address(new Uint8Array(rule.buffer)), 0), "port rule");
    }
    must(sys(LANDLOCK_RESTRICT, ruleset, 0), "Landlock restrict_self");
  };

  /** Every capability goes: with no-new-privileges, exec cannot give any back. */
  const dropCapabilities = () => {
    const PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_CLEAR_ALL = 4;
    must(sys(spec.nr.prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient caps");
    const header = new Uint32Array([0x20080522, 0]); // _LINUX_CAPABILITY_VERSION_3, this process
    const data = new Uint32Array(6);
    const [h, d] = [new Uint8Array(header.buffer), new Uint8Array(data.buffer)];
    must(sys(spec.nr.capset, address(h), address(d)), "dropping capabilities");
  };

  /** The seccomp program, with this (and so the plugin's) pid where the plan could not know it. */
  const installFilter = (encoded: string) => {
    const program = Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
    const view = new DataView(program.buffer);
    for (let i = 0; i < program.length; i += 8) {
      if (view.getUint32(i + 4, true) === spec.pidPlaceholder) {
        view.setUint32(i + 4, Deno.pid, true);
      }
    }
    const fprog = new Uint8Array(16);
    new DataView(fprog.buffer).setUint16(0, program.length / 8, true);
    new DataView(fprog.buffer).setBigUint64(8, address(program), true);
    must(sys(spec.nr.seccomp, 1, 0, address(fprog)), "seccomp filter"); // SECCOMP_SET_MODE_FILTER
  };

  /**
   * The plugin's RLIMIT_DATA, on this process until its exec. It may be below what the launcher
   * holds (review 154: Deno's default held 541 MiB, over a command plugin's default of 512), and
   * then every page V8 or malloc asks for after it is refused: the launcher died ("young object
   * promotion failed", "memory allocation of 41 bytes failed") in 11 of 600 starts under load,
   * and in every start whose environment held a value of 100 KB, copied after it. So nothing is
   * allocated after it: its buffer is made first, and the call's answer is a small number.
   */
  const setDataLimit = (bytes: number) => {
    const limit = new BigUint64Array([BigInt(bytes), BigInt(bytes)]);
    const pointer = address(new Uint8Array(limit.buffer));
    const call = BigInt(spec.nr.prlimit64);
    // This process (0), RLIMIT_DATA (2), soft and hard.
    if (c.rawSyscall(call, 0n, 2n, pointer, 0n) !== 0) {
      fail(`memory limit failed (errno ${errno()})`);
    }
  };

  /**
   * Moves this thread into the plugin's own memory cgroup: `0` written to its `tasks` file moves
   * the writer, and the exec that follows keeps this thread alone, so the plugin and all it makes
   * start there. The pages the launcher holds stay charged where they were and go at the exec.
   */
  const joinCgroup = (fd: number, zero: Uint8Array) => {
    if (Number(c.write(fd, zero, 1n)) !== 1) {
      fail(`joining the plugin's memory cgroup failed (errno ${errno()})`);
    }
  };

  // FD_CLOEXEC (1) with F_SETFD (2): the relay is spawned with it closed, the plugin execs without it.
  if (spec.cgroupFd !== undefined) {
    must(sys(spec.nr.fcntl, spec.cgroupFd, 2, 1), "the cgroup descriptor");
  }
  if (spec.relay) await startRelay(spec.relay);
  must(sys(spec.nr.prctl, 38, 1, 0, 0, 0), "no-new-privileges"); // PR_SET_NO_NEW_PRIVS
  if (spec.landlock) applyLandlock(spec.landlock);
  dropCapabilities();
  if (spec.seccomp) installFilter(spec.seccomp);

  const env: Record<string, string> = {};
  for (const name of spec.keepEnv) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(spec.setEnv ?? {})) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  const [program, ...rest] = Deno.args.slice(1 + parts);
  if (!program) fail("no program to run");
  const strings = (list: string[]) => {
    const owned = list.map(text);
    const pointers = new BigUint64Array(owned.length + 1);
    owned.forEach((s, i) => pointers[i] = address(s));
    return { owned, bytes: new Uint8Array(pointers.buffer) };
  };
  const path = text(program);
  const argv = strings([program, ...rest]);
  const envp = strings(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const zero = text("0").subarray(0, 1);
  // Made here, its length too: from the limit on, nothing may be allocated (a BigInt is).
  const mark = new TextEncoder().encode(spec.execMark === undefined ? "" : `${spec.execMark}\n`);
  const markBytes = BigInt(mark.length);
  // Every buffer of the exec is made above: from the limit on, the launcher may not grow.
  if (spec.cgroupFd !== undefined) joinCgroup(spec.cgroupFd, zero);
  if (spec.dataLimitBytes !== undefined) setDataLimit(spec.dataLimitBytes);
  if (mark.length > 0 && c.markWrite(2, mark, markBytes) !== mark.length) {
    fail(`cannot write the exec mark (errno ${errno()})`);
  }
  c.execve(path, argv.bytes, envp.bytes);
  fail(`cannot run "${program}" (errno ${errno()})`);
}
