// Review 118: attacks on review 117's fix (the Python probe under the plugin's seccomp filter).
// Each test failed on the code it was written against (8e13ef4).
import assert from "node:assert/strict";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { freshCache } from "../_helpers.ts";
import { probeRefusal, realPython, tempFolder, withPython } from "./_python_shim.ts";

// The probe (a shim's code, which a plugin may have written: review 113) ran for 15 s with no limit
// on memory: one process took 4 GiB in 6 s, the plugin's own cap 512 MiB. The shim asks for 1 GiB
// in one piece (written, so it is held), says whether it got it, and fails so it is shown.
Deno.test("r118: a Python probe's process cannot take more memory than a plugin's", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r118-probe-");
  const python = await realPython();
  const shim = `#!/bin/sh
echo PROBED >&2
"${python}" -I -S -c 'import sys; b = b"x" * (1 << 30); print("ALLOCATED", file=sys.stderr)'
exit 1
`;
  await withPython(dir.path, shim, async () => {
    const error = await probeRefusal(cache.path);
    assert.match(error.message, /PROBED/);
    assert.doesNotMatch(error.message, /ALLOCATED/);
    // Refused by the process's own limit, which holds where the host makes no cgroups (not root):
    // the probe's memory cgroup alone would have ended it by the OOM killer, with no such error.
    assert.match(error.message, /MemoryError/);
  });
});

// Review 118's fix capped each of the probe's processes alone; a shim that forked held that much
// per child, and as many children as the host's own limits allowed. The probe's processes now share
// cgroups, as a plugin's do, where the host may make them (as root): 512 MiB and 64 tasks together.
// The program forks children in turn; in "memory" each child holds 64 MiB (16 would hold 1 GiB)
// before it says so; in "tasks" each only waits (200 would be made). At the end it asks each child
// that said so whether it still lives: a child the OOM killer ended answers with the end of its
// pipe, never a guess made from time.
const FORKS = `import os, sys
mode = sys.argv[1]
alive = 0
kids = []
for i in range(16 if mode == "memory" else 200):
    cmd_r, cmd_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.close(cmd_w); os.close(rep_r)
        held = b"x" * (64 << 20) if mode == "memory" else b""
        os.write(rep_w, b"a")
        while os.read(cmd_r, 1) == b"q":
            os.write(rep_w, b"y")
        os._exit(0)
    os.close(cmd_r); os.close(rep_w)
    if os.read(rep_r, 1) == b"a":
        kids.append((cmd_w, rep_r))
for cmd_w, rep_r in kids:
    try:
        os.write(cmd_w, b"q")
        alive += os.read(rep_r, 1) == b"y"
    except OSError:
        pass
print("FORKED %d ALIVE %d" % (len(kids), alive), file=sys.stderr)
sys.exit(1)
`;

/** The probe's cgroups this host has now, by their folders. */
async function probeCgroupsLeft(): Promise<string[]> {
  const found = await findControllers("sh");
  const bases = [found?.cpu.base, found?.memory, found?.pids, found?.cpuacct];
  const left: string[] = [];
  for (const base of bases.filter((base) => base !== undefined)) {
    for (const entry of Deno.readDirSync(base)) {
      if (entry.name.startsWith(`plugbox-${Deno.pid}-`) && entry.name.includes("-python-probe-")) {
        left.push(`${base}/${entry.name}`);
      }
    }
  }
  return left;
}

for (const [mode, most] of [["memory", 512 / 64], ["tasks", 64]] as const) {
  Deno.test(`r118: a Python probe's processes together hold at most a plugin's ${mode}`, async () => {
    assert.equal(Deno.uid(), 0, "plugbox makes cgroups as root; CI runs as root");
    await using cache = await freshCache();
    await using dir = await tempFolder("plugbox-r118-forks-");
    const python = await realPython();
    const shim = `#!/bin/sh\nexec "${python}" -I -S -c '${FORKS}' ${mode}\n`;
    await withPython(dir.path, shim, async () => {
      const error = await probeRefusal(cache.path);
      const [, forked, alive] = /FORKED (\d+) ALIVE (\d+)/.exec(error.message) ?? [];
      assert.ok(forked, error.message);
      // A few tasks are the shell's, bubblewrap's and the parent's own; the parent holds memory too.
      assert.ok(Number(alive) < most && Number(alive) > 0, error.message);
    });
    assert.deepEqual(await probeCgroupsLeft(), []);
  });
}
