// The probe in views of the cgroup mounts that a container or an administrator may give a host
// (review 34), each made for real in a mount namespace of its own (root only, as the cgroups
// are): a v1 hierarchy mounted at a path with a space, which mountinfo escapes (`\040`), and the
// hierarchies hidden under another mount, where mountinfo still lists them but their paths are
// plain folders. Each is probed by a host with --allow-all (in its own process) and by one with
// the README's flags (through dash).
import assert from "node:assert/strict";
import { join } from "node:path";
import { testDeadline } from "../_helpers.ts";

const PROBE = new URL("../../runner/sandbox/cgroup_probe.ts", import.meta.url).href;
const HOSTS = {
  "all": ["--allow-all"],
  "README flags": ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
} as const;

/**
 * What `findControllers` says in a host run by `setup` (a shell script, run as root in a new
 * mount namespace, then `exec`ing the host: `"$@"`).
 */
async function probeIn(setup: string, flags: readonly string[], dir: string): Promise<unknown> {
  const main = join(dir, "main.ts");
  Deno.writeTextFileSync(
    main,
    `import { findControllers } from "${PROBE}";
console.log(JSON.stringify((await findControllers("/bin/sh")) ?? null));`,
  );
  const out = await new Deno.Command("unshare", {
    args: ["-m", "/bin/sh", "-c", `mount --make-rprivate / && ${setup} && exec "$@"`, "sh"]
      .concat([Deno.execPath(), "run", "--no-lock", ...flags, main]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const [host, flags] of Object.entries(HOSTS)) {
  Deno.test(`cgroup views [${host}]: a v1 hierarchy mounted at a path with a space is found there`, async () => {
    testDeadline(60_000);
    if (Deno.uid() !== 0) return; // only root may mount (and make cgroups): nothing to probe
    const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "plugbox-views-" }));
    try {
      const spaced = join(dir, "cg v1", "cpu");
      Deno.mkdirSync(spaced, { recursive: true });
      const found = await probeIn(
        `umount /sys/fs/cgroup/cpu && mount -t cgroup -o cpu none '${spaced}'`,
        flags,
        dir,
      ) as { cpu?: { base: string; version: number } } | null;
      assert.equal(found?.cpu?.base, join(spaced, "plugbox"), JSON.stringify(found));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });

  Deno.test(`cgroup views [${host}]: hierarchies hidden under another mount are no controllers`, async () => {
    testDeadline(60_000);
    if (Deno.uid() !== 0) return;
    const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "plugbox-views-" }));
    try {
      // mountinfo still lists the cgroup mounts, but their paths are now a tmpfs's folders: a
      // "join" there would write a file and move nothing.
      const found = await probeIn("mount -t tmpfs none /sys/fs/cgroup", flags, dir);
      assert.equal(found, null);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}
