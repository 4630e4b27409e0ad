// Review 125: attacks on the siblings of this session's fixes (reviews 114 and 118 to 124's). Each
// test failed on the code it was written against (84a8329).
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { previewStart, startPlugin } from "../../mod.ts";
import { CAP_ALL_TASKS_SH, capAllTasksHere } from "../../runner/sandbox/cgroup_tasks.ts";
import { prologue } from "../../runner/sandbox/prologue.ts";
import { exists, freshCache, within } from "../_helpers.ts";
import { hostile, limitedPidsCgroup, tempDir } from "./_hostile.ts";
import { probeAnswer, refusedAfterTheOther, tempFolder } from "./_python_shim.ts";
import { Probe } from "./plugins/probe.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

// Review 119's and 120's item: a version manager's interpreter folder is code of the Python plugin
// it runs, no other launch's to write. The folders are recorded as the probe spells them, and
// Python spells its library through a version alias it does not resolve (`~/.pyenv/versions/3.11`,
// a link to `3.11.7`: sys.prefix is the link, while the probe's executable is real), but a write
// grant is compared by its real path: a Deno plugin granted `…/3.11.7/lib` was not refused, and
// could fill the Python plugin's standard library with code run with its grants.
Deno.test("r125: an interpreter's library spelled through a version alias is no other plugin's to write", async () => {
  for (const first of ["python", "writer"] as const) {
    await using dir = await tempFolder("plugbox-r125-alias-");
    const version = join(dir.path, "3.11.7");
    const library = join(version, "lib", "python3.11");
    await Deno.mkdir(join(version, "bin"), { recursive: true });
    await Deno.mkdir(library, { recursive: true });
    await Deno.writeTextFile(join(library, "os.py"), "# the interpreter's own\n");
    await Deno.writeTextFile(join(version, "bin", "python3.11"), "not run\n", { mode: 0o755 });
    await Deno.symlink(version, join(dir.path, "3.11"));
    // What `os.path.realpath(sys.executable)` and sysconfig say run through the alias.
    const alias = join(dir.path, "3.11", "lib", "python3.11");
    const answer = probeAnswer(join(version, "bin", "python3.11"), alias);
    await refusedAfterTheOther(join(dir.path, "shim"), answer, join(version, "lib"), first);
  }
});

// The prologue runs one program, mkdir, where the host could not make the cgroups itself. The
// plugin's environment has no PATH (no grant can name it), so dash looked mkdir up on its own
// default PATH, /usr/local/sbin and /usr/local/bin first: folders that are no code root where the
// host's PATH lacks them (cron's is /usr/bin:/bin), so a plugin granted one could plant a mkdir
// there that ran as the host at a later start. It is the host PATH's mkdir now, by its path.
Deno.test("r125: the prologue makes cgroups with the mkdir on the host's PATH, not dash's own PATH", async () => {
  await using base = await tempDir();
  const bin = join(base.path, "bin");
  await Deno.mkdir(bin);
  const mark = join(base.path, "MARK");
  await Deno.writeTextFile(join(bin, "mkdir"), `#!/bin/sh\n: > "${mark}"\nexec /bin/mkdir "$@"\n`, {
    mode: 0o755,
  });
  const dir = (kind: string) => join(base.path, "cgroups", kind);
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  Deno.env.set("PATH", `${bin}:${path}`);
  let argv: string[];
  try {
    argv = prologue("/bin/sh", {
      cgroup: {
        dir: dir("cpu"),
        version: 1,
        quotaUs: 50_000,
        periodUs: 100_000,
        pidsDir: dir("pids"),
        pidsMax: 8192,
      },
    });
  } finally {
    Deno.env.set("PATH", path);
  }
  // As a plugin's: no PATH. Plain folders are no cgroups, so the join then fails.
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "/bin/true"],
    clearEnv: true,
    env: {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(exists(dir("pids")), decode(out.stderr));
  assert.ok(exists(mark), "the cgroups were made by a mkdir the host did not find on its PATH");
});

// Review 121's bash closes a descriptor above 9 for dash, found on the host's PATH. A relative
// PATH folder (`bin`, `node_modules/.bin`) was looked in from the host's working folder, and the
// bash found there was run by the prologue, as `rel/bash`, from the plugin's: its snapshot, where
// the plugin's own `rel/bash` ran as the host, outside every layer. Only absolute folders count.
Deno.test("r125: a bash in a relative PATH folder is never the prologue's: it ran from the plugin's folder", async () => {
  await using base = await tempDir();
  const [host, plugin] = [join(base.path, "host"), join(base.path, "plugin")];
  const mark = join(base.path, "MARK");
  for (const [dir, body] of [[host, "exit 1"], [plugin, `: > "${mark}"; exit 1`]]) {
    await Deno.mkdir(join(dir, "rel"), { recursive: true });
    await Deno.writeTextFile(join(dir, "rel", "bash"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  const [path, cwd] = [Deno.env.get("PATH") ?? "/usr/bin:/bin", Deno.cwd()];
  Deno.env.set("PATH", `rel:${path}`);
  Deno.chdir(host);
  let argv: string[];
  try {
    argv = prologue("/bin/sh", { limits: { dataLimitBytes: 1 << 30 } });
  } finally {
    Deno.chdir(cwd);
    Deno.env.set("PATH", path);
  }
  // The host holds descriptor 12 (a parent's); the plugin's command starts in its folder.
  const out = await new Deno.Command("/bin/bash", {
    args: ["-c", 'exec 12</dev/null; exec "$@"', "bash", ...argv, "/bin/sh", "-c", "echo ran"],
    cwd: plugin,
    clearEnv: true,
    env: {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(!exists(mark), "the plugin's own rel/bash ran as the host");
  assert.equal(decode(out.stdout).trim(), "ran", decode(out.stderr));
});

// Review 121's closing lists the descriptors in /dev/fd and /proc/self/fd. Where the host has
// neither (a chroot or a mount namespace without /proc), nothing was listed, nothing closed, and
// the plugin's command got every descriptor the host inherited. 0 to 2 are always open: a listing
// without them ends the start now. The host here is a mount namespace with both hidden.
Deno.test("r125: a host that cannot list its descriptors ends the start rather than pass them on", async () => {
  const argv = prologue("/bin/sh", { limits: { dataLimitBytes: 1 << 30 } });
  const out = await new Deno.Command("bwrap", {
    args: [
      ...["--bind", "/", "/", "--tmpfs", "/proc", "--tmpfs", "/dev", "--"],
      ...["/bin/bash", "-c", 'exec 5</etc/hostname; exec "$@"', "bash", ...argv],
      ...["/bin/sh", "-c", ": <&5 && echo 'descriptor 5 is open'"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(decode(out.stdout), "", "the plugin's command held descriptor 5");
  assert.equal(out.code, 125, decode(out.stderr));
  assert.match(decode(out.stderr), /cannot list the descriptors the host inherited/);
});

// The same for the host's own tools (sh, bwrap, setpriv, prlimit): an sh in a relative PATH folder
// was found from the host's working folder and spawned as `rel/sh` in the plugin's snapshot, where
// Deno resolves a relative program: the plugin's own `rel/sh` ran as the host at its first start.
const RELATIVE_HOST = fileURLToPath(new URL("./_r125_relative_host.ts", import.meta.url));

Deno.test("r125: the host's sh is never found in a relative PATH folder: it ran from the plugin's folder", async () => {
  await using cache = await freshCache();
  await using base = await tempDir();
  const [host, plugin] = [join(base.path, "host"), join(base.path, "plugin")];
  const mark = join(base.path, "MARK");
  for (const [dir, first] of [[host, ""], [plugin, `: > "${mark}"`]]) {
    await Deno.mkdir(join(dir, "rel"), { recursive: true });
    await Deno.writeTextFile(join(dir, "rel", "sh"), `#!/bin/sh\n${first}\nexec /bin/sh "$@"\n`, {
      mode: 0o755,
    });
  }
  await Deno.writeTextFile(join(plugin, "main.ts"), "export {};\n");
  const out = await within(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", RELATIVE_HOST, join(plugin, "main.ts"), cache.path],
      cwd: host,
      env: { PATH: `rel:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
      stdout: "piped",
      stderr: "piped",
    }).output(),
    60_000,
    "the host with a relative PATH folder",
  );
  assert.ok(out.success, decode(out.stderr));
  assert.match(decode(out.stdout), /^(started|refused: \w+)$/m);
  assert.ok(!exists(mark), "the plugin's own rel/sh ran as the host");
});

// Review 120's item for caches: each start's snapshot is code a later start finds by the hash of
// the plugin's folder and runs unread. A launch's own cache is a code root to its own grants, but
// another launch in the process may use another cache: a plugin granted that cache's snapshots
// folder replaced a snapshot's module, and the other plugin's next start ran it with its grants.
Deno.test("r125: a plugin given another launch's cache to write cannot have it run its code", async () => {
  await using theirs = await freshCache();
  await using mine = await freshCache();
  await using out = await tempDir();
  const mark = join(out.path, "MARK");
  const victim = () =>
    startPlugin(hostile("r110_plants_program.ts"), {
      contracts: [Probe],
      name: "victim",
      cacheDir: theirs.path,
      isolation: "deno",
      permissions: { write: [out.path] },
      unsafe: { writeAsRoot: true },
      startTimeout: 5_000,
    });
  const first = await victim();
  const module = join(first.plan.snapshot.dir, "r110_plants_program.ts");
  await first.close();
  const writer = await startPlugin(hostile("r125_replaces_snapshot.ts"), {
    contracts: [Probe],
    name: "writer",
    cacheDir: mine.path,
    isolation: "deno",
    permissions: { write: [join(theirs.path, "snapshots")] },
    unsafe: { writeAsRoot: true },
  }).catch((error: Error) => error);
  if (!(writer instanceof Error)) {
    const code = `Deno.writeTextFileSync(${JSON.stringify(mark)}, "the writer's code");`;
    await writer.api(Probe).attempt(`${module}|${code}`);
    await writer.close();
    await victim().then((plugin) => plugin.close(), () => undefined);
  }
  assert.ok(!exists(mark), "the writer's code ran with the other plugin's grants");
  assert.ok(writer instanceof TypeError, `the writer started: ${writer}`);
  assert.match(writer.message, /code of a plugin started .*its cache/);
});

// Review 122 read a start's options once (readOnce), its own members: the permissions within were
// still read twice. Whether a write grant is judged against the code roots was decided on one
// read, and the grant taken from another: a getter that said no write grant, then the plugin's
// own folder, had that folder granted to write, unjudged (and an env grant so skipped the names
// the runtime reads). A preview and a start read them once now, and judge what they grant.
Deno.test("r125: permissions are read once: a write grant first read as none is still judged as code", async () => {
  await using cache = await freshCache();
  const entry = hostile("r110_plants_program.ts");
  let reads = 0;
  const permissions = {
    get write() {
      return reads++ === 0 ? [] : [dirname(entry)];
    },
  };
  const plan = await previewStart(entry, {
    cacheDir: cache.path,
    isolation: "deno",
    permissions,
    unsafe: { writeAsRoot: true },
  });
  // Read once, as none: nothing to judge, nothing granted.
  assert.deepEqual(plan.grants.write, [], "its own folder granted to write, never judged as code");
});
// Review 114's cap holds every plugin's tasks to half of the machine's, in the folder plugbox makes
// their pids cgroups in: a folder inside the host's own cgroup. A limit on that cgroup or one above
// it (a systemd service's TasksMax, 15% of the machine's by default; a container's pids limit)
// counts the plugins' tasks with the host's, and the cap, half of the machine's, was far above it:
// under a limit of 600 one plugin of no grants held 589 threads and the host could start no
// process. Half of the lowest limit above is the cap now. The host runs in a cgroup of the test's.
const TASKS_HOST = fileURLToPath(new URL("./_r125_tasks_host.ts", import.meta.url));

Deno.test("r125 [os]: a host's own pids limit keeps half for the host: one plugin cannot take it all", async () => {
  await using group = await limitedPidsCgroup("r125", 600, 1, 5_000);
  const out = await within(
    new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
        "sh",
        group.inner,
        Deno.execPath(),
        "run",
        "--allow-all",
        TASKS_HOST,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output(),
    60_000,
    "the host in a limited cgroup",
  );
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
  const { said, spawned } = JSON.parse(text.trim().split("\n").at(-1)!);
  const tasks = Number(/^tasks: (\d+)$/.exec(said)?.[1]);
  assert.ok(tasks > 0 && tasks <= 300, `${said}: half of 600 is 300`);
  assert.equal(spawned, "yes", "the host could start a process while the plugin held its tasks");
});

for (const here of [true, false]) {
  Deno.test(`r125: the cap on all plugins' tasks is half the lowest limit above their folder (set ${here ? "itself" : "through sh"})`, async () => {
    await using group = await limitedPidsCgroup("r125", 600, 3, 5_000);
    const folder = join(group.inner, "plugbox");
    Deno.mkdirSync(folder);
    if (here) assert.ok(capAllTasksHere([folder]));
    else {
      // As the probe's shell runs it: IFS a newline, the folders in $capped.
      const script = `IFS='\n'\ncapped=$1\n${CAP_ALL_TASKS_SH}`;
      const ran = await new Deno.Command("/bin/sh", { args: ["-c", script, "sh", folder] })
        .output();
      assert.ok(ran.success, decode(ran.stderr));
    }
    assert.equal(Deno.readTextFileSync(join(folder, "pids.max")).trim(), "300");
  });
}
