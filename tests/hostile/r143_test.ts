// Review 143, attack on the OS layers' kernel surface with native code (a program a run grant names,
// tests/hostile/plugins/r143_kernel.c). Held under both layers, on the live kernel rather than the
// filter's own interpreter (tests/sandbox/seccomp_test.ts): the i386 entry ends the process, x32
// calls and calls beyond the tables are refused, clone3 answers ENOSYS, and what reaches another
// process (signals by every call, a pidfd, its memory, kcmp), keyrings, userfaultfd (the call and
// the device), perf, bpf, io_uring, file handles, the new mount calls, setns, a personality change
// and unknown socket families are refused; a bystander of the host's survives every SIGKILL sent.
// Found and closed: under bubblewrap a root host's plugin is uid 0 to the kernel, and read the /proc
// files only root may read (the slab caches, every physical page's flags and count, vmalloc areas,
// the names of root's keys): bubblewrap now covers them (runner/sandbox/proc_masks.ts); under both
// layers a read lease on a file the plugin may read held the host's write to it for as long as the
// plugin liked, up to 45 s at each open; under Landlock ext4's own SETVERSION ioctl set the inode
// generation of a file opened read-only. The filter refuses both now.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPlugin } from "../../mod.ts";
import { ROOT_ONLY_PROC } from "../../runner/sandbox/proc_masks.ts";
import { alive, testDeadline } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const SOURCE = fileURLToPath(new URL("./plugins/r143_kernel.c", import.meta.url));
const EPERM = "errno 1";

/** r143_kernel.c, built static (it runs inside the Landlock layer's ruleset) in a folder of its own. */
async function built(): Promise<{ program: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r143-" }));
  const program = join(dir, "kernel");
  const gcc = await new Deno.Command("gcc", { args: ["-static", "-O1", "-o", program, SOURCE] })
    .output();
  assert.ok(gcc.success, new TextDecoder().decode(gcc.stderr));
  return { program, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** The generation of `file`'s inode, as the host reads it (the program, run here). */
async function generation(program: string, file: string): Promise<string> {
  const { stdout } = await new Deno.Command(program, { args: ["version", file] }).output();
  return new TextDecoder().decode(stdout).trim();
}

/** What the program says, run by a plugin under `isolation` with a run grant of it alone. */
async function run(isolation: "os" | "landlock", program: string, words: string[], read?: string) {
  await using plugin = await startPlugin(hostile("r143_runs.ts"), {
    contracts: [Probe],
    isolation,
    permissions: { run: [program], ...(read ? { read: [read] } : {}) },
    unsafe: { run: true },
  });
  const said = await plugin.api(Probe).attempt([program, ...words].join(" "));
  assert.match(said, /end=0 $/, said);
  return Object.fromEntries(
    said.trim().split("\n").map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
}

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r143 [${isolation}]: native code's kernel calls past the filter's tables, through another ABI, or at a process of the host's are refused`, async () => {
    testDeadline(60_000);
    await using build = await built();
    const bystander = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      const seen = await run(isolation, build.program, ["calls", String(bystander.pid)]);
      const message = JSON.stringify(seen);
      if (Deno.build.arch === "x86_64") {
        assert.equal(seen.i386, "signal 31", message); // SIGSYS: the filter kills another ABI
        assert.equal(seen.x32, EPERM, message);
        assert.equal(seen.x32_unshare, EPERM, message);
      }
      assert.equal(seen.beyond_table, "errno 38", message);
      assert.equal(seen.clone3, "errno 38", message);
      const refused = [
        "personality",
        "keyctl",
        "add_key",
        "request_key",
        "userfaultfd",
        "perf_event_open",
        "bpf",
        "io_uring",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
        "kcmp",
        "name_to_handle_at",
        "open_by_handle_at",
        "fsopen",
        "open_tree",
        "fspick",
        "setns",
        "pidfd_getfd",
      ];
      for (const call of refused) assert.equal(seen[call], EPERM, `${call}: ${message}`);
      assert.doesNotMatch(seen.dev_userfaultfd, /^ok/, message);
      for (const family of ["af_vsock", "af_alg", "af_packet"]) {
        assert.equal(seen[family], "errno 97", `${family}: ${message}`); // EAFNOSUPPORT
      }
      if (isolation === "os") {
        // Its own PID namespace: the bystander is not there to signal.
        for (const call of ["kill", "tgkill", "rt_sigqueueinfo"]) {
          assert.equal(seen[call], "errno 3", `${call}: ${message}`);
        }
        assert.equal(seen.pidfd_send_signal, "pidfd errno 3", message);
      } else {
        // The host's: Landlock's scope refuses each signal, the pidfd's too.
        for (const call of ["kill", "tgkill", "rt_sigqueueinfo", "pidfd_send_signal"]) {
          assert.equal(seen[call], EPERM, `${call}: ${message}`);
        }
        // No socket Landlock's TCP rule does not see.
        for (const kind of ["udp", "mptcp", "sctp"]) {
          assert.equal(seen[kind], "errno 13", `${kind}: ${message}`);
        }
      }
      assert.ok(alive(bystander.pid), `the bystander was killed: ${message}`);
    } finally {
      bystander.kill("SIGKILL");
      await bystander.status;
    }
  });

  Deno.test(`r143 [${isolation}]: the /proc files only root may read stay closed to a root host's plugin`, async () => {
    testDeadline(60_000);
    await using build = await built();
    // The test reads /proc with --allow-all: those this kernel has.
    const present = ROOT_ONLY_PROC.filter((path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    });
    assert.ok(present.includes("/proc/vmallocinfo"), present.join(" ")); // in every kernel
    const seen = await run(isolation, build.program, ["read", "/proc/meminfo", ...present]);
    const message = JSON.stringify(seen);
    // What any user may read of the kernel's /proc stays readable under bubblewrap.
    if (isolation === "os") assert.match(seen["/proc/meminfo"], /^read [1-9]/, message);
    for (const path of present) assert.equal(seen[path], "errno 13", `${path}: ${message}`);
  });
}

for (const isolation of ["os", "landlock"] as const) {
  // Review 88's list held FS_IOC_SETVERSION, not ext4's own number for the same call, which
  // Landlock (the file opened read-only, as its rule allows) let set the inode's generation.
  Deno.test(`r143 [${isolation}]: native code sets no inode generation through a file it may only read, by ext4's own ioctl`, async () => {
    testDeadline(60_000);
    await using build = await built();
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r143-read-" }));
    try {
      const file = join(dir, "only-read.txt");
      await Deno.writeTextFile(file, "the plugin may read this\n");
      const before = await generation(build.program, file);
      assert.match(before, /^generation=\d+$/, "the host reads the generation here (ext4)");
      const seen = await run(isolation, build.program, ["version", file, "set"], dir);
      const message = JSON.stringify(seen);
      // bubblewrap binds the grant read-only (EROFS); under Landlock the filter refuses it.
      assert.equal(seen.setversion, isolation === "os" ? "errno 30" : EPERM, message);
      assert.equal(await generation(build.program, file), before, message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const isolation of ["os", "landlock"] as const) {
  // A read lease's holder decides when another's open of the file for writing returns: the host's
  // write to a file its plugin may read waited as long as the plugin held one, up to the kernel's
  // lease-break-time (45 s) at each open (a synchronous write holds the host's whole thread).
  Deno.test(`r143 [${isolation}]: native code takes no lease on a file it may only read`, async () => {
    testDeadline(60_000);
    await using build = await built();
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r143-lease-" }));
    try {
      const file = join(dir, "shared.txt");
      await Deno.writeTextFile(file, "the host writes this, the plugin reads it\n");
      const seen = await run(isolation, build.program, ["lease", file, "0"], dir);
      // The plugin owns the file's uid (the host's), so only the filter stands in the way.
      assert.equal(seen.lease, "errno 13", JSON.stringify(seen));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
