// Review 88: the Landlock layer lets native code open, read-only, a file it
// may only read; Landlock checks nothing after that open, and the seccomp
// filter refused metadata changes by path only (review 87). Through the
// descriptor, native code set the file's inode flags (FS_IOC_SETFLAGS,
// FS_IOC_FSSETXATTR: file_setattr's change, refused by path).
import assert from "node:assert/strict";
import { join } from "node:path";
import { startPlugin } from "../../mod.ts";
import { fileURLToPath } from "node:url";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const LIBC = Deno.realPathSync((await libcOf(Deno.realPathSync(Deno.execPath())))!);

/** A new folder by its real path, removed at the end. */
async function tempFolder(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r88-" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The file's flags as lsattr shows them ("-------d-----" and so on). */
async function flagsOf(path: string): Promise<string> {
  const out = await new Deno.Command("lsattr", { args: ["-d", path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split(" ")[0];
}

Deno.test("R88 [landlock]: native code sets no inode flag on a file it may only read, through a read-only descriptor", async () => {
  await using data = await tempFolder();
  await using scratch = await tempFolder();
  const file = join(data.path, "data.txt");
  await Deno.writeTextFile(file, "read only\n");
  await using plugin = await startPlugin(hostile("r88_landlock.ts"), {
    contracts: [Probe],
    isolation: "landlock",
    permissions: { ffi: [LIBC], read: [data.path, scratch.path], write: [scratch.path] },
    unsafe: { ffi: true, writeAsRoot: true },
  });
  const probe = plugin.api(Probe);
  const seen = {
    setflags: await probe.attempt(`setflags ${file} ${LIBC}`),
    fssetxattr: await probe.attempt(`fssetxattr ${file} ${LIBC}`),
    nodump: (await flagsOf(file)).includes("d"),
  };
  assert.deepEqual(seen, {
    setflags: "setflags: errno 1",
    fssetxattr: "fssetxattr: errno 1",
    nodump: false,
  });
});

// Documented, not closed (README, the Landlock layer): seccomp cannot tell a read-only descriptor
// from a writable one, so native code sets the times of a file it may only read, through a
// descriptor Landlock let it open for reading. Refusing every descriptor's times would refuse
// them on the plugin's own files too (review 87's test).
Deno.test("R88 [landlock]: native code may set the times of a file it may only read, through a read-only descriptor (documented)", async () => {
  await using data = await tempFolder();
  await using scratch = await tempFolder();
  const file = join(data.path, "data.txt");
  await Deno.writeTextFile(file, "read only\n");
  await using plugin = await startPlugin(hostile("r88_landlock.ts"), {
    contracts: [Probe],
    isolation: "landlock",
    permissions: { ffi: [LIBC], read: [data.path, scratch.path], write: [scratch.path] },
    unsafe: { ffi: true, writeAsRoot: true },
  });
  const seen = await plugin.api(Probe).attempt(`futimens ${file} ${LIBC}`);
  assert.deepEqual({ seen, mtime: Deno.statSync(file).mtime?.getTime() }, { seen: "ok", mtime: 0 });
  // Its content is what it was: a time, not a write.
  assert.equal(await Deno.readTextFile(file), "read only\n");
});

/** Runs _r88_host.ts as `nobody` (setpriv), with a home of its own in `home`. */
async function asNobody(home: string, args: string[]): Promise<string> {
  const host = fileURLToPath(new URL("./_r88_host.ts", import.meta.url));
  const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
  const out = await new Deno.Command("setpriv", {
    args: [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      Deno.execPath(),
      "run",
      "--allow-all",
      "--no-lock",
      "--config",
      config,
      host,
      ...args,
    ],
    // Its own cache: one the runner names (PLUGBOX_CACHE_DIR, as the mutation runner does) is root's.
    env: {
      HOME: home,
      DENO_DIR: join(home, "deno"),
      XDG_CACHE_HOME: join(home, "cache"),
      PLUGBOX_CACHE_DIR: join(home, "cache", "plugbox"),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return `${text.decode(out.stdout).trim()}${out.success ? "" : text.decode(out.stderr)}`;
}

Deno.test("R88 [deno]: a link in a read grant's folder the host may search but not list is judged too", async () => {
  // Root lists every folder, so the host must be another user, which only root can become here
  // (CI runs as root). A host not root: its own user's folders are the case, and setpriv cannot run.
  if (Deno.uid() !== 0) return;
  await using root = await tempFolder();
  const secret = join(root.path, "secret.txt");
  const grant = join(root.path, "grant");
  await Deno.writeTextFile(secret, "NOBODY-SECRET\n", { mode: 0o600 });
  await Deno.mkdir(join(grant, "drop"), { recursive: true });
  await Deno.mkdir(join(root.path, "home"));
  await Deno.symlink(secret, join(grant, "drop", "key"));
  await new Deno.Command("chown", { args: ["-R", "65534:65534", root.path] }).output();
  await Deno.chmod(root.path, 0o755);
  // Searchable, not listable, by its owner: the host cannot list it, the plugin can open a name.
  await Deno.chmod(join(grant, "drop"), 0o111);
  try {
    const seen = await asNobody(join(root.path, "home"), [grant, `read ${grant}/drop/key`]);
    assert.equal(seen, "refused: PreflightError: grant-link");
  } finally {
    await Deno.chmod(join(grant, "drop"), 0o755);
  }
});

/** True when this process may drop the kernel's dentry and inode caches (root, /proc/sys writable). */
function mayDropCaches(): boolean {
  try {
    Deno.openSync("/proc/sys/vm/drop_caches", { write: true }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("R88 [landlock]: a plugin still reads its own /proc/self entries once the kernel drops their dentries", async () => {
  // Dropping the kernel's caches takes root (CI runs as root).
  if (!mayDropCaches()) return;
  await using plugin = await startPlugin(hostile("r88_proc.ts"), {
    contracts: [Probe],
    isolation: "landlock",
  });
  const probe = plugin.api(Probe);
  const before = await probe.attempt();
  // What memory pressure does at any time: unused dentries and inodes freed (slab only, no data).
  // A dentry used lately is spared once (the LRU's second chance): dropped three times.
  for (let i = 0; i < 3; i++) await Deno.writeTextFile("/proc/sys/vm/drop_caches", "2");
  assert.deepEqual({ before, after: await probe.attempt() }, {
    before: "rss true worker true",
    after: "rss true worker true",
  });
});
