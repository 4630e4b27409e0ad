// Review 124: the Landlock layer's ruleset against every right the kernel's ABI 7 knows (an
// allow-list: a right it did not handle would be everyone's), tried by native code (an
// acknowledged ffi grant) with a read grant on one folder and a write grant on another:
// truncate and a move out of the read grant (refer), a device's ioctl, UDP and raw sockets
// (Landlock's net rules are TCP's only: the seccomp filter refuses them), a signal to the host,
// and the launcher's descriptors it inherits (the pinned /proc/<pid>, opened before the
// ruleset) used as a folder to open past its own entries. All held; these keep them held.
// Then two-way contracts: a capability whose host implementation calls the plugin's own method
// again, without end, and a stream whose every item waits on such a capability. Held too: the
// recursion stops at maxInFlight and ends with the deadline, every capability returned.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ContractApi, provide, startPlugin } from "../../mod.ts";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";
import { R124 } from "./plugins/r124_reenter_contract.ts";

const deno = Deno.realPathSync(Deno.execPath());
const LIBC = Deno.realPathSync((await libcOf(deno))!);

/** Two new folders by their real paths, one to read (with a file), one to write; removed after. */
async function folders(): Promise<{ read: string; write: string } & AsyncDisposable> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r124-" }));
  const [read, write] = [join(root, "read"), join(root, "write")];
  await Deno.mkdir(read);
  await Deno.mkdir(write);
  await Deno.writeTextFile(join(read, "kept.txt"), "KEPT\n");
  return { read, write, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

async function landlockPlugin(read: string, write: string) {
  return await startPlugin(hostile("r124_landlock.ts"), {
    contracts: [Probe],
    isolation: "landlock",
    permissions: { ffi: [LIBC], read: [read], write: [write] },
    unsafe: { ffi: true, writeAsRoot: true },
  });
}

Deno.test("R124 [landlock]: native code neither truncates nor moves a file of its read grant", async () => {
  await using dir = await folders();
  const kept = join(dir.read, "kept.txt");
  await using plugin = await landlockPlugin(dir.read, dir.write);
  const probe = plugin.api(Probe);
  const seen = {
    truncate: await probe.attempt(`truncate ${kept} ${LIBC}`),
    rename: await probe.attempt(`rename ${kept}>${join(dir.write, "moved.txt")} ${LIBC}`),
    text: await Deno.readTextFile(kept),
  };
  assert.deepEqual(seen, { truncate: "errno 13", rename: "errno 13", text: "KEPT\n" });
});

Deno.test("R124 [landlock]: no ioctl on a device it may only read (IOCTL_DEV)", async () => {
  await using dir = await folders();
  await using plugin = await landlockPlugin(dir.read, dir.write);
  const probe = plugin.api(Probe);
  const seen = {
    urandom: await probe.attempt(`ioctl /dev/urandom ${LIBC}`),
    // The control: /dev/null may be written, ioctls included; the request reaches its driver,
    // which knows none (ENOTTY).
    null: await probe.attempt(`ioctl /dev/null ${LIBC}`),
  };
  assert.deepEqual(seen, { urandom: "errno 13", null: "errno 25" });
});

Deno.test("R124 [landlock]: no UDP, ping or raw socket (Landlock's net rules are TCP's alone)", async () => {
  await using dir = await folders();
  await using plugin = await landlockPlugin(dir.read, dir.write);
  const probe = plugin.api(Probe);
  const kinds = {
    tcp: "2:1:0", // the control: TCP, which Landlock limits by port
    udp: "2:2:0",
    udpByProtocol: "2:2:17",
    udp6: "10:2:0",
    ping: "2:2:1",
    raw: "2:3:1",
  };
  const seen: Record<string, string> = {};
  for (const [name, kind] of Object.entries(kinds)) {
    seen[name] = await probe.attempt(`socket ${kind} ${LIBC}`);
  }
  assert.deepEqual(seen, {
    tcp: "ok",
    udp: "errno 13",
    udpByProtocol: "errno 13",
    udp6: "errno 13",
    ping: "errno 13",
    raw: "errno 13",
  });
});

Deno.test("R124 [landlock]: native code signals neither the host nor a process outside (scoped signals)", async () => {
  await using dir = await folders();
  const bystander = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await using plugin = await landlockPlugin(dir.read, dir.write);
    const probe = plugin.api(Probe);
    const seen = {
      host: await probe.attempt(`signal ${Deno.pid} ${LIBC}`),
      bystander: await probe.attempt(`signal ${bystander.pid} ${LIBC}`),
    };
    assert.deepEqual(seen, { host: "errno 1", bystander: "errno 1" });
  } finally {
    bystander.kill("SIGKILL");
    await bystander.status;
  }
});

Deno.test("R124 [landlock]: the launcher's pinned /proc/<pid> descriptor opens nothing past the plugin's own entries", async () => {
  await using dir = await folders();
  await using plugin = await landlockPlugin(dir.read, dir.write);
  const probe = plugin.api(Probe);
  const seen: Record<string, string> = {};
  for (const path of ["status", "net/tcp", "../1/environ", "../meminfo", "root/etc/hostname"]) {
    seen[path] = await probe.attempt(`pinned ${path} ${LIBC}`);
  }
  assert.deepEqual(seen, {
    status: "read", // the control: its own entry, through the same descriptor
    "net/tcp": "errno 13",
    "../1/environ": "errno 13",
    "../meminfo": "errno 13",
    "root/etc/hostname": "errno 13",
  });
});

/**
 * The re-entering plugin, with a host whose `deeper` calls the plugin back (passing its
 * signal, as a capability should), counting how deep the calls through the host go.
 */
async function reentering(maxInFlight: number) {
  const held: { api?: ContractApi<typeof R124> } = {};
  const depth = { now: 0, most: 0, back: Promise.withResolvers<void>() };
  const plugin = await startPlugin(hostile("r124_reenter.ts"), {
    contracts: [R124],
    callTimeout: 2_000,
    maxInFlight,
    capabilities: [provide(R124, {
      deeper: async (n, context) => {
        if (n < 0) return await held.api!.ping.with({ signal: context.signal })().then(() => n);
        depth.most = Math.max(depth.most, ++depth.now);
        try {
          return await held.api!.dive.with({ signal: context.signal })(n + 1);
        } finally {
          if (--depth.now === 0) depth.back.resolve();
        }
      },
    })],
  });
  held.api = plugin.api(R124);
  return { plugin, api: held.api, depth };
}

Deno.test("R124: recursion through a capability that re-enters the plugin stops at maxInFlight and ends with the deadline, nothing left", async () => {
  const { plugin, api, depth } = await reentering(8);
  await using _ = plugin;
  const error = await api.dive(0).then(() => undefined, (e: unknown) => e);
  // Every capability the recursion started has returned: none is left pending on the host.
  await depth.back.promise;
  assert.deepEqual({ name: (error as Error)?.name, most: depth.most, now: depth.now }, {
    name: "TimeoutError",
    most: 8, // the host's calls to the plugin, each holding a slot: the 9th waits for one
    now: 0,
  });
  assert.equal(await api.ping(), "pong"); // every slot was given back
});

Deno.test("R124: a stream whose items each wait on a capability that re-enters the plugin breaks off cleanly", async () => {
  const { plugin, api } = await reentering(64);
  await using _ = plugin;
  const seen: number[] = [];
  for await (const item of api.items(-1)) {
    seen.push(item);
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, [-1, -1, -1]);
  assert.equal(await api.ping(), "pong");
});
