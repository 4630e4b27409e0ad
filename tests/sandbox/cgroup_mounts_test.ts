// Where the probe looks for this process's cgroups (`cpuControllers`): a mount shows its
// hierarchy from its root, which is not `/` in a container with no cgroup namespace of its own;
// mountinfo escapes spaces; a cgroup path with `..` (outside this process's namespace) is under
// no mount. Each case is what the kernel prints, fed to the parser.
import assert from "node:assert/strict";
import { cpuControllers } from "../../runner/sandbox/cgroup_probe.ts";

const line = (root: string, mount: string, type: string, options: string) =>
  `30 20 0:27 ${root} ${mount} rw,nosuid - ${type} ${type} rw,${options}`;

Deno.test("cgroup mounts: a v1 mount of the hierarchy's root holds this process's cgroup at its own path", () => {
  const info = line("/", "/sys/fs/cgroup/cpu", "cgroup", "cpu");
  assert.deepEqual(cpuControllers(info, "4:cpu:/user/1\n0::/"), [
    { version: 1, base: "/sys/fs/cgroup/cpu/user/1/plugbox" },
  ]);
});

Deno.test("cgroup mounts: a mount of a subtree (a container without a cgroup namespace) holds the path below its root", () => {
  const info = line("/docker/abc", "/sys/fs/cgroup/cpu", "cgroup", "cpu,cpuacct");
  assert.deepEqual(cpuControllers(info, "4:cpu,cpuacct:/docker/abc\n"), [
    { version: 1, base: "/sys/fs/cgroup/cpu/plugbox" },
  ]);
  assert.deepEqual(cpuControllers(info, "4:cpu,cpuacct:/docker/abc/job\n"), [
    { version: 1, base: "/sys/fs/cgroup/cpu/job/plugbox" },
  ]);
  // A cgroup outside the mount's subtree is not under it (not even by a shared prefix).
  assert.deepEqual(cpuControllers(info, "4:cpu,cpuacct:/docker/abcd\n"), []);
  assert.deepEqual(cpuControllers(info, "4:cpu,cpuacct:/\n"), []);
  const v2 = line("/kubepods/pod1", "/sys/fs/cgroup", "cgroup2", "nsdelegate");
  assert.deepEqual(cpuControllers(v2, "0::/kubepods/pod1/c\n"), [
    { version: 2, base: "/sys/fs/cgroup/c" },
  ]);
  assert.deepEqual(cpuControllers(v2, "0::/other\n"), []);
});

Deno.test("cgroup mounts: a mount point with a space is read as the kernel escaped it", () => {
  const info = line("/", "/srv/cg\\040v1/cpu", "cgroup", "cpu");
  assert.deepEqual(cpuControllers(info, "4:cpu:/a\n"), [
    { version: 1, base: "/srv/cg v1/cpu/a/plugbox" },
  ]);
  const rooted = line("/a\\040b", "/sys/fs/cgroup/cpu", "cgroup", "cpu");
  assert.deepEqual(cpuControllers(rooted, "4:cpu:/a b/c\n"), [
    { version: 1, base: "/sys/fs/cgroup/cpu/c/plugbox" },
  ]);
});

Deno.test("cgroup mounts: a cgroup outside this process's namespace (a path with ..) is under no mount", () => {
  const info = [
    line("/", "/sys/fs/cgroup/cpu", "cgroup", "cpu"),
    line("/", "/sys/fs/cgroup/unified", "cgroup2", "nsdelegate"),
  ].join("\n");
  assert.deepEqual(cpuControllers(info, "4:cpu:/../../elsewhere\n0::/../x\n"), []);
  assert.deepEqual(cpuControllers(info, "4:cpu:/ok\n0::/ok2\n"), [
    { version: 1, base: "/sys/fs/cgroup/cpu/ok/plugbox" },
    { version: 2, base: "/sys/fs/cgroup/unified/ok2" },
  ]);
});
