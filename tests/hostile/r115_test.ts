// Review 115: attacks on reviews 110 to 114's fixes. Each test failed on the code it was written
// against (e524a1b).
import assert from "node:assert/strict";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { pathFolders } from "../../runner/sandbox/path_programs.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { probeRefusal, tempFolder, withPython } from "./_python_shim.ts";
import { settled } from "./_settled.ts";

const asRoot = Deno.uid() === 0;

/** Points the link `path` at `target` in one step, as `ln -sfn` and version managers do. */
function repoint(path: string, target: string): void {
  Deno.symlinkSync(target, `${path}.new`);
  Deno.renameSync(`${path}.new`, path);
}

// The cache of review 113 watched the folders holding links and the PATH folders by their real
// path: a link on the way to a PATH folder (an SDK's `current`, switched to another version) or a
// folder on a link's way replaced by a link changed none of them, and the old answer stayed.
Deno.test("r115: a PATH entry's link pointed at another version makes that version's folder code", async () => {
  await using dir = await tempFolder("plugbox-r115-current-");
  for (const version of ["v1", "v2"]) {
    await Deno.mkdir(join(dir.path, version, "bin"), { recursive: true });
  }
  Deno.symlinkSync("v1", join(dir.path, "current"));
  const path = `${join(dir.path, "current", "bin")}:/usr/bin`;
  await settled(dir.path, join(dir.path, "v1", "bin"), join(dir.path, "v2", "bin"));
  assert.ok(pathFolders(path).includes(join(dir.path, "v1", "bin")));
  repoint(join(dir.path, "current"), "v2");
  assert.ok(
    pathFolders(path).includes(join(dir.path, "v2", "bin")),
    `the switched version is no code: ${pathFolders(path).filter((p) => p.startsWith(dir.path))}`,
  );
});

Deno.test("r115: a folder on a PATH link's way replaced by a link makes where it leads code", async () => {
  await using dir = await tempFolder("plugbox-r115-way-");
  for (const sub of ["bin", "x/real", "elsewhere"]) {
    await Deno.mkdir(join(dir.path, sub), { recursive: true });
  }
  for (const sub of ["x/real", "elsewhere"]) {
    await Deno.writeTextFile(join(dir.path, sub, "tool"), "");
  }
  Deno.symlinkSync(join(dir.path, "x/real/tool"), join(dir.path, "bin/tool"));
  const path = `${join(dir.path, "bin")}:/usr/bin`;
  await settled(...["", "bin", "x", "x/real", "elsewhere"].map((sub) => join(dir.path, sub)));
  assert.ok(pathFolders(path).includes(join(dir.path, "x/real")));
  Deno.renameSync(join(dir.path, "x/real"), join(dir.path, "x/old"));
  Deno.symlinkSync(join(dir.path, "elsewhere"), join(dir.path, "x/real"));
  assert.ok(
    pathFolders(path).includes(join(dir.path, "elsewhere")),
    `where the tool now is is no code: ${pathFolders(path).filter((p) => p.startsWith(dir.path))}`,
  );
});

// An empty or relative PATH entry is the working folder (review 110), but the cache was keyed on
// PATH's text alone: after the host changed folder, the old one's stayed the code.
Deno.test("r115: a relative PATH entry follows the host's working folder", async () => {
  await using first = await tempFolder("plugbox-r115-cwd-");
  await using second = await tempFolder("plugbox-r115-cwd-");
  const cwd = Deno.cwd();
  try {
    Deno.chdir(first.path);
    assert.ok(pathFolders("bin:/usr/bin").includes(join(first.path, "bin")));
    Deno.chdir(second.path);
    assert.ok(pathFolders("bin:/usr/bin").includes(join(second.path, "bin")));
  } finally {
    Deno.chdir(cwd);
  }
});

// Review 113 checked the probe's stdlib for os.py, and mounted its platstdlib unchecked: a lying
// shim named any folder and the Python plugin read it.
Deno.test("r115: a Python probe's answer naming a platform library without os.py is refused", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r115-lie-");
  await using secret = await tempFolder("plugbox-r115-secret-");
  const real = new TextDecoder().decode(
    (await new Deno.Command("python3", {
      args: ["-I", "-S", "-c", PATHS],
      stdout: "piped",
    }).output()).stdout,
  );
  const honest = JSON.parse(real);
  const lie = JSON.stringify({ ...honest, platstdlib: secret.path });
  await withPython(dir.path, `#!/bin/sh\necho '${lie}'\n`, async () => {
    await assert.rejects(
      previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path }),
      /did not say where its interpreter is/,
    );
  });
});

const PATHS = `import json, os, sys, sysconfig
p = sysconfig.get_paths()
print(json.dumps({"executable": os.path.realpath(sys.executable), "stdlib": p["stdlib"],
  "platstdlib": p["platstdlib"], "purelib": p["purelib"], "platlib": p["platlib"]}))`;

// A root host's probe was root in bubblewrap with every capability: it remounted / read-write (and
// wrote as root anywhere), and root's uid alone opens /proc/sys for writing (core_pattern runs a
// program as the host at the next crash). The shim says what it could, and fails so it is shown.
Deno.test({
  name: "r115: a root host's Python probe can neither remount the file system nor write /proc/sys",
  ignore: !asRoot,
  fn: async () => {
    await using cache = await freshCache();
    await using dir = await tempFolder("plugbox-r115-probe-");
    const shim = `#!/bin/sh
{ echo PROBED; mount -o remount,rw,bind / 2>/dev/null && echo REMOUNTED
(exec 3>/proc/sys/kernel/core_uses_pid) 2>/dev/null && echo SYSCTL-OPEN
grep CapEff /proc/self/status; } >&2
exit 1
`;
    await withPython(dir.path, shim, async () => {
      const error = await probeRefusal(cache.path);
      assert.match(error.message, /PROBED/);
      assert.doesNotMatch(error.message, /REMOUNTED|SYSCTL-OPEN/);
      // No capability, whatever else refuses what one would allow (the filter refuses mount).
      assert.match(error.message, /CapEff:(?:\\x09|\s)0{16}(?![0-9a-f])/);
    });
  },
});

// Under the OS layer a root host's plugin is uid 65534 inside and 0 outside: /proc/sys and
// /proc/sysrq-trigger check the uid alone. A write of text no sysctl parses changes nothing:
// "Invalid argument" says the file opened.
Deno.test({
  name: "r115 [os]: a root host's Python plugin cannot open /proc/sys for writing",
  ignore: !asRoot,
  fn: async () => {
    await using plugin = await startPlugin(hostile("py_probe/main.py"), {
      contracts: [Probe],
      isolation: "os",
    });
    const answer = await plugin.api(Probe).attempt("write:/proc/sys/kernel/core_uses_pid");
    assert.match(answer, /Read-only file system/);
  },
});
