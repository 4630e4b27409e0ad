/**
 * Review 164's host of r164_kernel, run by tests/hostile/r164_test.ts as a process of its own (as
 * uid 65534 where the test says so, a user of its own). `<attempt> ...`: starts the plugin under
 * the OS layer, passes it each attempt in turn (it holds what each took), then this host tries
 * what the kernel objects it took are for: an inotify watch (`Deno.watchFs`) and a program's
 * start (its pipes are epoll watches). Prints one JSON line.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

// `--ctypes`: as a host not root, whose OS layer mounts ctypes' libffi (found by its soname) only
// when its folder is granted.

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);
await using plugin = await startPlugin(hostile("r164_kernel/main.py"), {
  contracts: [Probe],
  isolation: "os",
  callTimeout: 300_000,
  // ctypes loads libffi by its soname, which the OS layer of a host not root mounts only granted.
  permissions: { read: Deno.args.includes("--ctypes") ? ["/usr/lib/x86_64-linux-gnu"] : [] },
});
const said: string[] = [];
for (const attempt of Deno.args.filter((a) => a !== "--ctypes")) {
  said.push(await plugin.api(Probe).attempt(attempt));
}
let watched: string;
try {
  const watcher = Deno.watchFs(Deno.cwd());
  watcher.close();
  watched = "yes";
} catch (error) {
  watched = messageOf(error);
}
let spawned: string;
try {
  spawned = (await new Deno.Command("true").output()).success ? "yes" : "failed";
} catch (error) {
  spawned = messageOf(error);
}
// A POSIX message queue of this host's own (through python3: Deno has no binding), a real-time
// signal queued to a child that blocks it, and a native AIO context (review 169).
let python: { stdout: Uint8Array };
try {
  python = await new Deno.Command("python3", {
    stderr: "null",
    args: [
      "-c",
      "import ctypes, os, signal\n" +
      "libc = ctypes.CDLL(None, use_errno=True)\n" +
      "fd = libc.mq_open(b'/r164-host-%d' % os.getpid(), os.O_CREAT | os.O_RDWR, 0o600, None)\n" +
      "print('mqueue', 'yes' if fd >= 0 else os.strerror(ctypes.get_errno()))\n" +
      "libc.mq_unlink(b'/r164-host-%d' % os.getpid())\n" +
      "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])\n" +
      "ok = libc.sigqueue(os.getpid(), signal.SIGRTMIN, ctypes.c_void_p(0)) == 0\n" +
      "print('signal', 'yes' if ok else os.strerror(ctypes.get_errno()))\n" +
      "libc.syscall.restype = ctypes.c_long\n" +
      "context = ctypes.c_ulong(0)\n" +
      "ok = libc.syscall(206 if os.uname().machine == 'x86_64' else 0, 64, ctypes.byref(context)) == 0\n" +
      "print('aio', 'yes' if ok else os.strerror(ctypes.get_errno()))\n",
    ],
    stdout: "piped",
  }).output();
} catch (error) {
  python = { stdout: new TextEncoder().encode(`python ${messageOf(error)}`) };
}
const host = Object.fromEntries(
  new TextDecoder().decode(python.stdout).trim().split("\n").map((l) => l.split(/ (.*)/s, 2)),
);
console.log(JSON.stringify({ said, watched, spawned, host }));
