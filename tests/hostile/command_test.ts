// Command plugins (a plugin in another language) are held by the OS layer
// alone: a hostile Python plugin tries to read, list, write, connect, run,
// allocate and outlive its host. Each attack has a control that runs the
// same plugin without plugbox and shows the attack working.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { previewStart, startPlugin } from "../../mod.ts";
import { fixture, rejected, until, within } from "../_helpers.ts";
import {
  plantSecrets,
  pluginFolder,
  processesWith,
  recordingServer,
  SECRET_DIR,
} from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const PROBE = fileURLToPath(new URL("./plugins/py_probe/main.py", import.meta.url));
const ISOLATIONS = ["auto", "os"] as const;

/** The control: the same plugin run by python3 directly, answering one attempt. */
async function withoutPlugbox(what: string): Promise<string> {
  const child = new Deno.Command("python3", {
    args: [PROBE, "--plugbox-nonce=control"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = [
    { jsonrpc: "2.0", id: 1, method: "$/initialize", params: { nonce: "control" } },
    { jsonrpc: "2.0", id: 2, method: "probe.attempt", params: [what] },
  ];
  await writer.write(
    new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join("\n") + "\n"),
  );
  await writer.close();
  const out = new TextDecoder().decode(
    (await within(child.output(), 30_000, "the control")).stdout,
  );
  return JSON.parse(out.trim().split("\n")[1]).result;
}

async function probe(isolation: string, what: string, options = {}): Promise<string> {
  await using plugin = await startPlugin(PROBE, {
    contracts: [Probe],
    isolation: isolation as "auto",
    ...options,
  });
  return await plugin.api(Probe).attempt(what);
}

/** A new folder by its real path, removed at the end. */
async function tempFolder(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-command-" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("command control: without the OS layer's ids a Python plugin run by root holds every capability", async () => {
  const status = JSON.parse((await withoutPlugbox("status")).slice("status: ".length));
  assert.equal(status.Uid, "0");
  assert.notEqual(status.CapEff, "0000000000000000");
  assert.equal(status.NoNewPrivs, "0");
});

Deno.test("command control: PYTHONPATH makes the interpreter run code its plugin never shipped", async () => {
  await using dir = await tempFolder();
  await Deno.writeTextFile(join(dir.path, "sitecustomize.py"), 'print("injected")\n');
  const out = await new Deno.Command("python3", {
    args: ["-c", "pass"],
    env: { PYTHONPATH: dir.path },
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout), "injected\n");
});

Deno.test("command control: without plugbox the Python plugin reads the secret, lists /, reaches a local server and runs a shell", async () => {
  await plantSecrets();
  assert.match(await withoutPlugbox(`read:${SECRET_DIR}/secret.txt`), /TOP-SECRET-TEXT/);
  assert.match(await withoutPlugbox("list:/"), /etc/);
  await using server = recordingServer();
  assert.match(
    await withoutPlugbox(`connect:127.0.0.1:${server.port}`),
    /connected: HTTP\/1\.1 200/,
  );
  assert.match(await withoutPlugbox("run:/bin/true"), /^ran: /);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`command [${isolation}]: an ungranted file does not exist for the plugin; a granted one does`, async () => {
    await plantSecrets();
    assert.match(
      await probe(isolation, `read:${SECRET_DIR}/secret.txt`),
      /^denied: FileNotFoundError/,
    );
    assert.match(await probe(isolation, "read:/etc/passwd"), /^denied: FileNotFoundError/);
    const granted = await probe(isolation, `read:${SECRET_DIR}/secret.txt`, {
      permissions: { read: [join(SECRET_DIR, "secret.txt")] },
    });
    assert.match(granted, /TOP-SECRET-TEXT/);
  });

  Deno.test(`command [${isolation}]: the root holds only the interpreter, its libraries, the snapshot and the grants`, async () => {
    await using plugin = await startPlugin(PROBE, { contracts: [Probe], isolation });
    const api = plugin.api(Probe);
    // Every top-level name must come from a mount in the plan: an allow-list, not a deny-list.
    const args = plugin.plan.args;
    const mounted = new Set(["dev", "proc", "tmp"]);
    for (const [i, arg] of args.entries()) {
      if (["--ro-bind", "--bind", "--symlink"].includes(arg)) {
        mounted.add(args[i + 2].split("/")[1]);
      }
    }
    const root = (await api.attempt("list:/")).replace(/^listed: /, "").split(",");
    assert.ok(root.length > 3, root.join(","));
    for (const name of root) assert.ok(mounted.has(name), `"/${name}" is visible: ${root}`);
    assert.ok(!root.includes("etc") && !root.includes("home"), root.join(","));
    const python = args.at(-3)!;
    assert.match(python, /python3/);
    const site = await api.attempt(`list:${python.replace(/bin\/python[\d.]*$/, "")}lib`);
    assert.match(site, /^listed: /, "the interpreter's library folder is there");
    assert.match(await api.attempt("run:/usr/bin/env"), /^denied: FileNotFoundError/);
    // The host's installed packages stay out of sight: empty under the stdlib's mount, or absent.
    const purelib = new TextDecoder().decode(
      (await new Deno.Command("python3", {
        args: ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        stdout: "piped",
      }).output()).stdout,
    ).trim();
    assert.match(await api.attempt(`list:${purelib}`), /^(listed: |denied: FileNotFoundError.*)$/);
  });

  Deno.test(`command [${isolation}]: the plugin cannot reach a server on the host's loopback`, async () => {
    await using server = recordingServer();
    const outcome = await probe(isolation, `connect:127.0.0.1:${server.port}`);
    assert.match(outcome, /^denied: /);
    assert.deepEqual(server.requests, []);
  });

  Deno.test(`command [${isolation}]: a Unix socket in a folder it may read is not reached, with or without the egress relay`, async () => {
    // A read-only mount does not stop connect() to a socket file (an ssh agent's, a container
    // daemon's), and the plugin runs as the host's user there (review 60).
    await using dir = await tempFolder();
    const path = join(dir.path, "agent.sock");
    const listener = Deno.listen({ transport: "unix", path });
    let served = 0;
    const serving = (async () => {
      for await (const conn of listener) {
        served++;
        await conn.read(new Uint8Array(64)).catch(() => null);
        await conn.write(new TextEncoder().encode("agent")).catch(() => 0);
        conn.close();
      }
    })();
    try {
      assert.equal(await withoutPlugbox(`unix-connect:${path}`), "unix answered: agent");
      assert.equal(served, 1);
      for (const net of [[], ["127.0.0.1:9"]]) {
        const outcome = await probe(isolation, `unix-connect:${path}`, {
          permissions: { read: [dir.path], net },
          unsafe: { privateNetwork: true },
        });
        assert.match(outcome, /^denied: OSError: \[Errno 97\]/, `net ${net}: ${outcome}`);
      }
      assert.equal(served, 1);
    } finally {
      listener.close();
      await serving.catch(() => {});
    }
  });

  Deno.test(`command [${isolation}]: the egress relay's memory and bubblewrap's init are beyond its reach; its host name is not the host's`, async () => {
    // Both may open Unix sockets, which the plugin may not: it must not run code in either.
    await using plugin = await startPlugin(PROBE, {
      contracts: [Probe],
      isolation,
      permissions: { net: ["127.0.0.1:9"] },
      unsafe: { privateNetwork: true },
    });
    const api = plugin.api(Probe);
    const seen = await api.attempt("procs");
    assert.match(seen, /^procs: 1 hidden \(errno 2\); /);
    const relay = /\d+ deno seccomp=2 prm=\w+ mem=([^;]+)/.exec(seen);
    assert.ok(relay, seen);
    // Read-only: /proc is the plugin's to read only (review 115), so no process's memory there is
    // its to write, the relay's (which its own credentials refuse, errno 13) included.
    assert.equal(relay[1], "errno 30", seen);
    assert.equal(await api.attempt("hostname"), "hostname: plugbox");
    assert.notEqual(await withoutPlugbox("hostname"), "hostname: plugbox");
  });

  Deno.test(`command [${isolation}]: writes land only in a granted folder`, async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const denied = await probe(isolation, `write:${dir}/x.txt`);
      assert.match(denied, /^denied: /);
      const wrote = await probe(isolation, `write:${dir}/x.txt`, {
        permissions: { read: [dir], write: [dir] },
        // This suite runs as root: a write grant then needs the acknowledgement (THREATS T21).
        unsafe: { writeAsRoot: true },
      });
      assert.equal(wrote, `wrote ${dir}/x.txt`);
      assert.equal(await Deno.readTextFile(`${dir}/x.txt`), "written by py_probe\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`command [${isolation}]: it runs as 65534, with no capability, no new privileges and nosuid grants`, async () => {
    await using dir = await tempFolder();
    const options = {
      permissions: { read: [dir.path], write: [dir.path] },
      unsafe: { writeAsRoot: true },
    };
    const status = JSON.parse((await probe(isolation, "status", options)).slice("status: ".length));
    assert.deepEqual(status, {
      Uid: "65534",
      Gid: "65534",
      NoNewPrivs: "1",
      CapEff: "0000000000000000",
      CapBnd: "0000000000000000",
    });
    assert.match(await probe(isolation, `mountopts:${dir.path}`, options), /(^|[ ,])nosuid(,|$)/);
  });

  Deno.test(`command [${isolation}]: a root host's write grant needs unsafe.writeAsRoot`, async () => {
    assert.equal(Deno.uid(), 0, "the suite runs as root (HELPERS.md)");
    await using dir = await tempFolder();
    const error = await rejected<TypeError>(
      probe(isolation, "status", { permissions: { write: [dir.path] } }),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /the host runs as root, .*pass unsafe\.writeAsRoot/);
  });

  Deno.test(`command [${isolation}]: a variable its interpreter reads itself (PYTHONPATH) cannot be granted`, async () => {
    await using dir = await tempFolder();
    const error = await rejected<TypeError>(
      probe(isolation, "env", { permissions: { env: { PYTHONPATH: dir.path } } }),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(
      error.message,
      /Cannot grant env "PYTHONPATH": it is a name its program "python3[\d.]*" may read itself: "\/.*" mentions it/,
    );
  });

  Deno.test(`command [${isolation}]: memory is capped by the memory limit`, async () => {
    const outcome = await probe(isolation, "alloc:2048", { memoryLimitMiB: 128 });
    const reached = Number(/stopped at (\d+) MiB/.exec(outcome)?.[1] ?? Infinity);
    assert.ok(reached <= 128, `allocated ${outcome} against a 128 MiB limit`);
  });

  Deno.test(`command [${isolation}]: the environment is the plan's, nothing inherited`, async () => {
    await using plugin = await startPlugin(PROBE, {
      contracts: [Probe],
      isolation,
      permissions: { env: { GREETING: "hi" } },
    });
    const env = JSON.parse((await plugin.api(Probe).attempt("env")).slice("env: ".length));
    // Python adds LC_CTYPE when it coerces the C locale to UTF-8 (PEP 538).
    delete env.LC_CTYPE;
    assert.deepEqual(env, plugin.plan.env);
    assert.equal(env.GREETING, "hi");
  });
}

Deno.test("command: the stop sequence ends a Python plugin that ignores EOF and SIGTERM, leaving nothing", async () => {
  const plugin = await startPlugin(PROBE, {
    contracts: [Probe],
    stopGraceMs: 300,
    stopTermMs: 300,
  });
  assert.match(await plugin.api(Probe).attempt("refuse-to-die"), /^refusing to die/);
  const status = await within(plugin.close(), 10_000, "the stop sequence");
  // SIGTERM reaches bubblewrap, which takes the sandbox down whatever the plugin ignores.
  assert.ok(["stopped", "killed"].includes(status.reason), status.reason);
  assert.deepEqual(processesWith(plugin.plan.nonce), []);
});

Deno.test("command: a SIGKILLed host takes its Python plugin with it, even one that ignores SIGTERM and EOF", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fixture("host_with_python.ts").pathname],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(reader.read(), 30_000, "the host to start its plugin");
    if (done) throw new Error(`host exited early: ${text}`);
    text += value;
  }
  const { nonce, said } = JSON.parse(text.split("\n")[0]);
  assert.match(said, /^refusing to die/);
  assert.ok(processesWith(nonce).length > 0, "the plugin runs");
  child.kill("SIGKILL");
  await Promise.all([child.status, reader.cancel(), child.stderr.cancel()]);
  await until(() => processesWith(nonce).length === 0, 2000, "the plugin to die with its host");
});

Deno.test("command: the words of a plugin's command reach messages neutralised", async () => {
  await using folder = await pluginFolder({
    "main.py": "",
    "plugbox.json": JSON.stringify({
      command: ["python3\u001b[2J\u001b]0;owned\u0007", "main.py"],
    }),
  });
  for (const isolation of ["deno", "os"] as const) {
    const error = await rejected<Error>(previewStart(join(folder.dir, "main.py"), { isolation }));
    assert.ok(
      // deno-lint-ignore no-control-regex
      !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(error.message),
      JSON.stringify(error.message),
    );
    assert.match(error.message, /python3\\x1b\[2J/);
  }
});

// The prologue sets the memory and CPU-time limits with the shell's `ulimit`. Where that `sh`
// sets only the soft limit without -H (zsh does, as sh too), the hard limit stayed unlimited
// and a plugin lifted its own soft limit back to it: no RLIMIT_DATA, no RLIMIT_CPU.

/** A folder with an `sh` whose `ulimit`, like zsh's, sets only the soft limit unless told -H. */
async function softOnlyShell(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await tempFolder();
  await Deno.writeTextFile(
    join(dir.path, "sh"),
    `#!/bin/bash
# A POSIX sh whose ulimit sets the soft limit only, unless -H is given (as zsh's does).
[ "$1" = -c ] || exec /bin/bash "$@"
script=$2; shift 2
exec /bin/bash -c 'ulimit() { case " $* " in *" -H"*) builtin ulimit "$@";; *) builtin ulimit -S "$@";; esac; }
'"$script" "$@"
`,
  );
  await Deno.chmod(join(dir.path, "sh"), 0o755);
  return dir;
}

async function raisedLimits(path: string): Promise<{ data: number[]; cpu: number[] }> {
  const out = await within(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fixture("limits_host.ts").pathname],
      env: { PATH: `${path}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output(),
    60_000,
    "the host",
  );
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
  const said: string = JSON.parse(text.trim().split("\n").at(-1)!).said;
  assert.match(said, /^limits: /, said);
  return JSON.parse(said.slice("limits: ".length));
}

Deno.test("command [os]: a plugin cannot lift its memory or CPU-time limit, whichever sh sets them", async () => {
  await using shell = await softOnlyShell();
  const shells = [shell.path];
  const zsh = ["/usr/bin/zsh", "/bin/zsh"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
  await using zshDir = await tempFolder();
  if (zsh) {
    await Deno.symlink(zsh, join(zshDir.path, "sh"));
    shells.push(zshDir.path);
  }
  for (const path of shells) {
    const { data, cpu } = await raisedLimits(path);
    // -1 is RLIM_INFINITY: the plugin lifted the limit.
    assert.ok(data[0] > 0 && data[0] === data[1], `RLIMIT_DATA after lifting (${path}): ${data}`);
    assert.ok(cpu[0] > 0 && cpu[0] === cpu[1], `RLIMIT_CPU after lifting (${path}): ${cpu}`);
  }
});

Deno.test("command [os]: with the host's own sh a plugin cannot lift its limits either", async () => {
  const { data, cpu } = await raisedLimits("/nonexistent");
  assert.ok(data[0] > 0 && cpu[0] > 0, `${data} ${cpu}`);
});
