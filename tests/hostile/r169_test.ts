// Review 169: kernel objects counted per user or per machine, not per plugin, that a plugin granted
// nothing shares with its host and with every other plugin (review 164's class, after its message
// queues). A plugin runs as its host's user, and under bubblewrap its user namespace still counts
// against the host's real user at every level above it, root's too. Measured on a root host with a
// Python plugin under the OS layer, before the fixes: it made all 128 of the user's inotify
// instances (the host's Deno.watchFs then failed with "Too many open files"); it queued 96,357
// real-time signals, the user's whole RLIMIT_SIGPENDING (the host's sigqueue failed with EAGAIN);
// it took the machine's whole fs.aio-max-nr, 65,536 events (the host's io_setup failed with
// EAGAIN); and two such plugins held 2,046 and 1,025 pseudo-terminals, after which a third's
// openpty, and any other sandbox's, failed with ENOSPC. Now the OS layers' filter refuses inotify
// instances beside native code and AIO contexts to every plugin, a start running native code has
// its pending signals held to PENDING_SIGNALS, and the sandbox's pseudo-terminal multiplexer opens
// for no one. What stays shared (epoll watches, open files): THREATS.md, review 169.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { PENDING_SIGNALS } from "../../runner/sandbox/prologue.ts";
import { within } from "../_helpers.ts";
import { hostile, kernelHost, tempDir } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

Deno.test("r169 [os]: a command plugin takes none of its user's inotify instances from its host", async () => {
  const { said, watched, spawned } = await kernelHost("inotify:200");
  // Before: "inotify: 128, then EMFILE", and the host's watch failed.
  assert.deepEqual(said, ["inotify: 0, then EACCES"]);
  assert.equal(watched, "yes", "the host's own Deno.watchFs");
  assert.equal(spawned, "yes");
});

Deno.test("r169 [os]: a command plugin opens no pseudo-terminal of the ones every sandbox shares", async () => {
  const { said } = await kernelHost("ptys:5000");
  // Before: "ptys: 2046, then EMFILE" (its descriptors, not the kernel, stopped it).
  assert.deepEqual(said, ["ptys: 0, then EACCES"]);
});

Deno.test("r169 [os]: a command plugin queues at most PENDING_SIGNALS of its user's pending signals", async () => {
  const { said, host } = await kernelHost("sigpending:200000");
  // Before: "sigpending: 96357, then EAGAIN" (the user's limit, 96,367 here), and the host's own
  // sigqueue failed with EAGAIN. The kernel counts every process of the user against the limit,
  // so the plugin gets what the user's other processes leave of it.
  const [, count] = said[0].match(/^sigpending: (\d+), then EAGAIN$/) ?? [];
  assert.ok(count !== undefined && Number(count) <= PENDING_SIGNALS, said[0]);
  assert.equal(host.signal, "yes", "the host's own sigqueue");
});

Deno.test("r169 [os]: a command plugin takes none of the machine's native AIO events", async () => {
  const { said, host } = await kernelHost("aio:200000");
  // Before: "aio: 65536 events, then EAGAIN" (fs.aio-max-nr, every user's), and the host's own
  // io_setup failed with EAGAIN.
  assert.deepEqual(said, ["aio: 0 events, then ENOSYS"]);
  assert.equal(host.aio, "yes", "the host's own io_setup");
});

Deno.test("r169 control: without plugbox, the same Python makes an inotify instance, an AIO context and a pseudo-terminal", async () => {
  // One of each only: all of them would take them from every process of this user (or of the
  // machine) on the machine.
  const { code, stdout } = await within(
    new Deno.Command("python3", {
      args: [
        "-c",
        "import ctypes, os\n" +
        "libc = ctypes.CDLL(None, use_errno=True)\n" +
        "fd = libc.inotify_init1(0)\n" +
        "print('inotify', 'yes' if fd >= 0 else os.strerror(ctypes.get_errno()))\n" +
        "libc.syscall.restype = ctypes.c_long\n" +
        "context = ctypes.c_ulong(0)\n" +
        "ok = libc.syscall(206 if os.uname().machine == 'x86_64' else 0, 64, ctypes.byref(context))\n" +
        "print('aio', 'yes' if ok == 0 else os.strerror(ctypes.get_errno()))\n" +
        "master, slave = os.openpty()\n" +
        "print('pty', os.ttyname(slave).startswith('/dev/pts/'))\n",
      ],
      stdout: "piped",
    }).output(),
    30_000,
    "python3",
  );
  assert.equal(code, 0);
  assert.equal(new TextDecoder().decode(stdout), "inotify yes\naio yes\npty True\n");
});

// Documented, not refused: a Deno plugin without native code keeps watchFs (a read grant first),
// and Deno does not make an inotify instance a watcher (200 of them held, past
// the user's 128), so its watchers take none of the host's.
for (const isolation of ["deno", "os", "landlock"] as const) {
  Deno.test(`r169 [${isolation}]: 200 watchers of a Deno plugin leave its host's inotify instances`, async () => {
    await using dir = await tempDir();
    await using plugin = await startPlugin(hostile("r169_watches.ts"), {
      contracts: [Probe],
      isolation,
      permissions: { read: [dir.path] },
    });
    assert.equal(await plugin.api(Probe).attempt(`watch:200:${dir.path}`), "watch: 200");
    Deno.watchFs(dir.path).close(); // the host's own: throws "Too many open files" were they taken
  });
}
