// THREATS T24: a plugin with native code (an acknowledged ffi grant) or in
// another language calls the kernel directly, past every Deno check. Under
// both OS layers the seccomp filter refuses what no plugin needs, set-UID
// files cannot be made, other processes cannot be reniced or signalled, and
// files and ports outside the grants stay out of reach (bubblewrap: not
// there; Landlock: refused). The control runs the same calls under the Deno
// layer, where nothing but Deno's own checks stands in the way.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startPlugin } from "../../mod.ts";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import {
  hostile,
  ISOLATIONS,
  plantSecrets,
  pluginDenoPid,
  recordingServer,
  SECRET_DIR,
} from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";
import { rejected } from "../_helpers.ts";

const deno = Deno.realPathSync(Deno.execPath());
const LIBC = Deno.realPathSync((await libcOf(deno))!); // the form a grant takes
const EPERM = "errno 1";

/** Every attempt of the plugin, under one layer, against a live bystander process. */
async function attempts(isolation: string) {
  await plantSecrets();
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t24-" }));
  await using server = recordingServer();
  const bystander = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await using plugin = await startPlugin(hostile("t24_kernel_calls.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { ffi: [LIBC], read: [dir], write: [dir] },
      // A root host's write grant is acknowledged: under the OS layers the filter, not the
      // refusal, must stop the set-UID file (THREATS T21).
      unsafe: { ffi: true, writeAsRoot: true },
    });
    const probe = plugin.api(Probe);
    const run = (what: string) => probe.attempt(`${what} ${LIBC}`);
    return {
      layer: plugin.isolation,
      unshare: await run("unshare -"),
      userNamespace: await run("user-namespace -"),
      cloneNamespace: await run("clone-namespace -"),
      ptrace: await run(`ptrace ${bystander.pid}`),
      mount: await run("mount -"),
      keyring: await run("keyring -"),
      bpf: await run("bpf -"),
      ioUring: await run("io_uring -"),
      setuid: await run(`setuid-file ${join(dir, "suid")}`),
      renice: await run(`renice ${bystander.pid}`),
      signal: await run(`signal ${bystander.pid}`),
      read: await run(`read ${SECRET_DIR}/secret.txt`),
      connect: await run(`connect 127.0.0.1:${server.port}`),
      unix: await run("unix-socket -"),
      sysvShm: await run("sysv-shm -"),
      datagramPair: await run("socketpair-dgram -"),
      streamPair: await run("socketpair-stream -"),
      netlinkRoute: await run("netlink 0"),
      netlinkSockets: await run("netlink 4"),
      inotify: await run(`inotify ${SECRET_DIR}`),
      served: server.requests.length,
    };
  } finally {
    bystander.kill("SIGKILL");
    await bystander.status;
    await Deno.remove(dir, { recursive: true });
  }
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T24 [${isolation}]: kernel calls no plugin needs are refused, and nothing outside the grants is reached`, async () => {
    if (isolation === "deno") {
      // Documented: the Deno layer holds native code only by refusing it; acknowledged, the
      // calls reach the kernel (the control below).
      const error = await rejected(startPlugin(hostile("t24_kernel_calls.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { ffi: [LIBC] },
      }));
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /unsafe\.ffi/);
      return;
    }
    const seen = await attempts(isolation);
    const message = JSON.stringify(seen);
    assert.equal(seen.userNamespace, "refused", message);
    assert.equal(seen.cloneNamespace, `clone: ${EPERM}`, message); // the flag, in clone itself
    const refused = ["unshare", "ptrace", "mount", "keyring", "bpf", "ioUring"] as const;
    for (const call of refused) {
      assert.equal(seen[call], EPERM, `${call}: ${message}`);
    }
    assert.equal(seen.setuid, `open: ${EPERM}`, message);
    assert.equal(seen.renice, EPERM, message);
    assert.equal(seen.served, 0, message);
    // A Unix socket file in a folder it may read is a daemon's door (review 60): none is opened.
    assert.equal(seen.unix, "errno 97", message); // EAFNOSUPPORT
    // Nor a datagram pair, whose unbound socket sends to any by path (review 61); a stream pair
    // (asyncio's, a runtime's own wake-ups) connects nowhere else.
    assert.equal(seen.datagramPair, "errno 13", message);
    assert.equal(seen.streamPair, "ok", message);
    // Netlink for routes only (a C library's interfaces), not the socket table.
    assert.equal(seen.netlinkRoute, "ok", message);
    assert.equal(seen.netlinkSockets, "errno 13", message);
    if (seen.layer === "os") {
      // Another PID, mount and network namespace: the process, the file and the server are not there.
      assert.equal(seen.signal, "errno 3", message); // ESRCH
      assert.equal(seen.read, "errno 2", message); // ENOENT
      assert.equal(seen.connect, "errno 111", message); // ECONNREFUSED, on its own loopback
    } else {
      // Landlock: the same machine, and the kernel refuses each.
      assert.equal(seen.signal, EPERM, message); // scoped signals
      assert.equal(seen.read, "errno 13", message); // EACCES
      assert.equal(seen.connect, "errno 13", message); // no TCP port but the proxy's
      // The host's IPC namespace: no System V segment, queue or semaphore (review 60).
      assert.equal(seen.sysvShm, EPERM, message);
      // Landlock does not control inotify: native code watches no folder it may not list.
      assert.equal(seen.inotify, "init: errno 13", message);
    }
  });
}

Deno.test("T24 control: under the Deno layer alone the same calls reach the kernel (documented: ffi defeats it)", async () => {
  const seen = await attempts("deno");
  const message = JSON.stringify(seen);
  // A root host's plugin has no capabilities (setpriv, THREATS T21), so unshare and a renice
  // upwards fail for want of them; what needs no privilege reaches the kernel.
  assert.equal(seen.userNamespace, "ok", message); // no privilege needed: only the filter stops it
  assert.equal(seen.cloneNamespace, "ok", message);
  assert.equal(seen.setuid, "chmod: ok", message);
  assert.equal(seen.signal, "ok", message);
  assert.match(seen.read, /^read: TOP-SECRET-TEXT/, message);
  assert.equal(seen.connect, "ok", message);
  assert.equal(seen.unix, "ok", message);
  assert.equal(seen.sysvShm, "ok", message);
  assert.equal(seen.datagramPair, "ok", message);
  assert.equal(seen.netlinkSockets, "ok", message);
  assert.equal(seen.inotify, "ok", message);
  for (const call of ["mount", "keyring", "bpf", "ioUring"] as const) {
    assert.notEqual(seen[call], EPERM, `${call} reached the kernel: ${message}`);
  }
});

/** The kernel's view of a process: capabilities, no-new-privileges, seccomp. */
function kernelView(pid: number): Record<string, string> {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Object.fromEntries(
    [...status.matchAll(/^(CapPrm|CapEff|CapAmb|NoNewPrivs|Seccomp):\s+(\S+)$/gm)].map((
      m,
    ) => [m[1], m[2]]),
  );
}

for (const isolation of ["os", "landlock"] as const) {
  for (const net of [false, true]) {
    Deno.test(`T24 [${isolation}${net ? ", net" : ""}]: the plugin runs with no capabilities, no-new-privileges and the seccomp filter`, async () => {
      await using server = recordingServer();
      await using plugin = await startPlugin(hostile("t24_kernel_calls.ts"), {
        contracts: [Probe],
        isolation,
        permissions: net ? { net: [`127.0.0.1:${server.port}`] } : {},
        unsafe: { privateNetwork: true },
      });
      const view = kernelView(pluginDenoPid(plugin.plan.nonce));
      assert.deepEqual(view, {
        CapPrm: "0000000000000000",
        CapEff: "0000000000000000",
        CapAmb: "0000000000000000",
        NoNewPrivs: "1",
        Seccomp: "2", // a filter
      });
    });
  }
}
