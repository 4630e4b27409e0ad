import assert from "node:assert/strict";
import { dirname } from "node:path";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import { defaultCacheDir } from "../../runner/sandbox/locate.ts";
import { previewStart, startPlugin } from "../../mod.ts";
import { Calc, Report } from "../fixtures/contracts.ts";
import { fixture, noInheritedDescriptors } from "../_helpers.ts";

const everything = { permissions: { all: true }, unsafe: { all: true } } as const;

function hostNamespaces(): Record<string, string> {
  return Object.fromEntries(
    ["mnt", "pid", "net", "ipc", "uts"].map((ns) => [ns, Deno.readLinkSync(`/proc/self/ns/${ns}`)]),
  );
}

Deno.test("the OS layer gives new namespaces and a root holding only what the plugin needs", async () => {
  await using plugin = await startPlugin(fixture("sandbox_report.ts"), {
    contracts: [Report],
    isolation: "os",
    ...everything,
  });
  assert.equal(plugin.isolation, "os");
  const seen = await plugin.api(Report).see();
  const host = hostNamespaces();
  for (const ns of ["mnt", "pid", "ipc", "uts"]) assert.notEqual(seen.namespaces[ns], host[ns], ns);
  // `all` includes net, so the network namespace is shared; see the next test for the default.
  assert.equal(seen.namespaces.net, host.net);
  assert.ok(seen.pid < 10, `pid ${seen.pid} is small: a new PID namespace`);
  assert.equal(seen.passwd, false, "even with every Deno permission, /etc/passwd is not there");
  // "bin": the link on the way to the sandbox's own sh (/bin/sh: GO_STEP in layers.ts).
  for (const name of seen.root) {
    assert.ok(
      ["bin", "dev", "lib", "lib64", "proc", "root", "tmp", "usr", "home", "work", "etc"]
        .includes(name),
      name,
    );
  }
});

Deno.test("the OS layer unshares the network unless net is granted", async () => {
  await using plugin = await startPlugin(fixture("sandbox_report.ts"), {
    contracts: [Report],
    isolation: "os",
    permissions: { sys: ["networkInterfaces"] },
  });
  const seen = await plugin.api(Report).see();
  assert.deepEqual(seen.interfaces, ["lo"], "only loopback: a network namespace of its own");
  const host = [...new Set(Deno.networkInterfaces().map((i) => i.name))];
  assert.ok(host.some((name) => name !== "lo"), "the host itself has more than loopback");
});

Deno.test("the Deno layer alone leaves the machine visible, which is why the OS layer exists", async () => {
  await using plugin = await startPlugin(fixture("sandbox_report.ts"), {
    contracts: [Report],
    isolation: "deno",
    ...everything,
  });
  const seen = await plugin.api(Report).see();
  assert.equal(seen.passwd, true);
  assert.equal(seen.namespaces.mnt, hostNamespaces().mnt);
});

/**
 * Runs a host script with a PATH that has no bubblewrap, and a host's narrow
 * permissions (no --allow-all: plugbox reads /proc and /sys through sh), or
 * all of them; the host inherits the descriptors `inherited` and no other.
 */
async function hostWithoutBwrap(
  isolation: string,
  tools = ["prlimit", "setsid", "setpriv", "ldd"],
  moreOptions = "",
  { all = false, inherited = [] as number[] } = {},
) {
  const code = `
    import { startPlugin } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
    import { Report } from ${JSON.stringify(fixture("contracts.ts").href)};
    try {
      await using plugin = await startPlugin(${JSON.stringify(fixture("sandbox_report.ts").href)}, {
        contracts: [Report],
        isolation: ${JSON.stringify(isolation)},${moreOptions}
      });
      console.log(JSON.stringify({ isolation: plugin.isolation, notes: plugin.plan.notes }));
    } catch (error) {
      console.log(JSON.stringify({ error: error.name, message: error.message }));
    }
  `;
  const bin = await Deno.makeTempDir();
  try {
    for (const tool of tools) await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
    await Deno.writeTextFile(`${bin}/host.ts`, code);
    // The cache this run uses (the mutation runner gives each mutation its own).
    const cache = defaultCacheDir();
    const run = [Deno.execPath(), ...tools.map((tool) => `${bin}/${tool}`)].join(",");
    // Without sh on its PATH, a host starts a plugin only if it inherited no descriptor.
    const [command, ...prefix] = noInheritedDescriptors([Deno.execPath()], inherited);
    const permissions = all
      ? ["--allow-all"]
      : ["--allow-read", `--allow-write=${cache}`, "--allow-env", `--allow-run=${run}`];
    const out = await new Deno.Command(command, {
      args: [
        ...prefix,
        "run",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        ...permissions,
        `${bin}/host.ts`,
      ],
      env: { PATH: bin },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || new TextDecoder().decode(out.stderr);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test('isolation "os" fails with IsolationUnavailableError where bubblewrap is missing', async () => {
  const out = JSON.parse(await hostWithoutBwrap("os"));
  assert.equal(out.error, "IsolationUnavailableError");
  assert.match(out.message, /Isolation "os" is unavailable: bwrap was not found on PATH/);
});

Deno.test('isolation "auto" picks "landlock" where bubblewrap is unavailable (not on PATH), and says so', async () => {
  const out = JSON.parse(
    // mkdir: where the host may not make the cgroups, its prologue runs the PATH's (review 125).
    await hostWithoutBwrap("auto", ["prlimit", "setsid", "setpriv", "ldd", "sh", "bash", "mkdir"]),
  );
  assert.equal(out.isolation, "landlock", JSON.stringify(out));
  assert.match(
    out.notes.join("\n"),
    /isolation "auto" chose "landlock": bwrap was not found on PATH.*; Landlock ABI \d+, a seccomp filter/,
  );
});

Deno.test('isolation "auto" refuses ffi together with net where it would choose "landlock", naming both and the OS layer', async () => {
  const libc = Deno.realPathSync((await libcOf(Deno.realPathSync(Deno.execPath())))!);
  const more = `
        permissions: { ffi: [${JSON.stringify(libc)}], net: ["example.com:443"] },
        unsafe: { ffi: true },
        manifest: "ignore",`;
  const tools = ["prlimit", "setsid", "setpriv", "ldd", "sh"];
  const out = JSON.parse(await hostWithoutBwrap("auto", tools, more));
  assert.equal(out.error, "IsolationUnavailableError", JSON.stringify(out));
  assert.match(
    out.message,
    /"auto" chose "landlock", and the Landlock layer cannot hold ffi ".*" together with net "example\.com:443"/,
  );
  assert.match(out.message, /isolation "os"/);
});

Deno.test('isolation "auto" falls back to "deno" where neither bubblewrap nor the Landlock layer can run, and says so', async () => {
  // Without sh the Landlock layer cannot start (its launcher runs through it). A host that can
  // list its descriptors (Deno asks --allow-all for /proc/self/fd) and inherited none.
  const out = JSON.parse(await hostWithoutBwrap("auto", undefined, "", { all: true }));
  assert.equal(out.isolation, "deno", JSON.stringify(out));
  assert.match(
    out.notes.join("\n"),
    /isolation "auto" chose "deno": bwrap was not found.*, and sh was not found on PATH/,
  );
});

// Review 121's class where no prologue runs: nothing closes what the host inherited, and a plugin
// granted nothing adopts it through node:net. With no sh on PATH, such a start is refused.
Deno.test('the "deno" layer with no sh on PATH refuses a start whose host inherited a descriptor, naming it', async () => {
  const out = JSON.parse(
    await hostWithoutBwrap("deno", undefined, "", { all: true, inherited: [7, 12] }),
  );
  assert.equal(out.error, "IsolationUnavailableError", JSON.stringify(out));
  assert.match(
    out.message,
    /^Isolation "deno" is unavailable: the host inherited descriptors 7, 12 from its parent, .* no sh is on the host's PATH/,
  );
});

Deno.test('the "deno" layer with no sh on PATH refuses a start where the host cannot list its descriptors', async () => {
  const out = JSON.parse(await hostWithoutBwrap("deno")); // narrow: no read of /proc/self/fd
  assert.equal(out.error, "IsolationUnavailableError", JSON.stringify(out));
  assert.match(out.message, /cannot tell which descriptors the host inherited .*\/proc\/self\/fd/);
});

Deno.test('isolation "landlock" fails with IsolationUnavailableError where it cannot run', async () => {
  const out = JSON.parse(await hostWithoutBwrap("landlock"));
  assert.equal(out.error, "IsolationUnavailableError");
  assert.match(out.message, /Isolation "landlock" is unavailable: sh was not found/);
});

Deno.test('isolation "auto" picks "os" where bubblewrap works, and says so', async () => {
  await using plugin = await startPlugin(fixture("sandbox_report.ts"), { contracts: [Report] });
  assert.equal(plugin.isolation, "os");
  assert.match(plugin.plan.notes.join("\n"), /chose "os"/);
});

Deno.test("an unknown isolation is a TypeError naming the value", async () => {
  await assert.rejects(
    startPlugin(fixture("sandbox_report.ts"), { contracts: [Report], isolation: "vm" as "os" }),
    /"isolation" must be "auto", "os", "landlock" or "deno", got "vm"/,
  );
});

Deno.test("bubblewrap's arguments: a path that resolves to / is never bound (no empty --ro-bind), and recorded links are made as given", async () => {
  const { bwrapArgs } = await import("../../runner/sandbox/isolation.ts");
  const args = await bwrapArgs({
    programs: [],
    runtime: ["/"],
    symlinks: [{ path: "/opt/plugbox-test/tool", target: "../../usr/bin/cat" }],
    readOnly: [],
    readWrite: [],
    net: false,
    dev: false,
    tmpBytes: 1 << 20,
    cwd: "/",
  });
  assert.ok(!args.includes(""), JSON.stringify(args));
  const at = args.indexOf("/opt/plugbox-test/tool");
  assert.deepEqual(args.slice(at - 2, at + 1), [
    "--symlink",
    "../../usr/bin/cat",
    "/opt/plugbox-test/tool",
  ]);
});

// A bind or a Landlock rule is opened through the links at its path: one inside a folder the
// plugin writes could be swapped for a link between the check and the mount (review 44). The
// write grant's own bind or rule covers it, and a link there resolves in the sandbox's view.
Deno.test("no bind or Landlock rule is made for a grant inside a write grant", async () => {
  const work = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${work}/in`);
    const permissions = { write: [work], read: [`${work}/in`] };
    const os = await previewStart(fixture("calc.ts"), {
      isolation: "os",
      permissions,
      unsafe: { writeAsRoot: true },
    });
    const args = [os.command, ...os.args];
    const bound = args.flatMap((a, i) => a === "--ro-bind" || a === "--bind" ? [args[i + 1]] : []);
    assert.ok(bound.includes(work), bound.join(" "));
    assert.ok(!bound.includes(`${work}/in`), bound.join(" "));
    const landlock = await previewStart(fixture("calc.ts"), {
      isolation: "landlock",
      permissions,
      unsafe: { writeAsRoot: true },
    });
    const spec = [landlock.command, ...landlock.args].find((a) => a.startsWith('{"mode":"launch"'));
    const rules = JSON.parse(spec!).landlock;
    assert.ok(rules.readWrite.includes(work), JSON.stringify(rules));
    assert.ok(!rules.readOnly.includes(`${work}/in`), JSON.stringify(rules));
    // The grant still reads as granted, through the write grant's own bind.
    await Deno.writeTextFile(`${work}/in/note.txt`, "inside");
    for (const isolation of ["os", "landlock"] as const) {
      await using plugin = await startPlugin(fixture("calc.ts"), {
        contracts: [Calc],
        isolation,
        permissions,
        unsafe: { writeAsRoot: true },
      });
      assert.equal(await plugin.api(Calc).readFile(`${work}/in/note.txt`), "inside");
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("ldd's word for a file that loads nothing counts only as its whole output, never as one forged line", async () => {
  const { loadsNothing } = await import("../../runner/sandbox/isolation.ts");
  assert.equal(loadsNothing({ stdout: "\tnot a dynamic executable\n", stderr: "" }), true);
  assert.equal(loadsNothing({ stdout: "\tstatically linked\n", stderr: "" }), true);
  // A library's wanted name with newlines in it, echoed on a "not found" line (review 29).
  assert.equal(
    loadsNothing({
      stdout: "\tlibc.so.6 => /lib/libc.so.6 (0x7f00)\n\tx\nstatically linked\n => not found\n",
      stderr: "",
    }),
    false,
  );
});

Deno.test("the loader's configured library folders: read as ldconfig reads them", async () => {
  const { configuredLibraries } = await import("../../runner/sandbox/loader_config.ts");
  const etc = Deno.realPathSync(Deno.makeTempDirSync());
  const write = (path: string, text: string) => {
    Deno.mkdirSync(dirname(`${etc}/${path}`), { recursive: true });
    Deno.writeTextFileSync(`${etc}/${path}`, text);
  };
  try {
    write(
      "ld.so.conf",
      // A relative pattern is taken from the including file's folder; one line, two patterns.
      `include conf.d/*.conf ${etc}/other/lib?.conf\n/opt/a/\n# /opt/commented\n/opt/typed=libc6\n`,
    );
    write("conf.d/x.conf", "# vendor\n/opt/b   # its libraries\nrelative/c\n  /opt/d\nhwcap 1 x\n");
    write("conf.d/ignored.txt", "/opt/e\n");
    write("conf.d/.hidden.conf", "/opt/hidden\n");
    write("other/libz.conf", `/opt/f\ninclude ${etc}/nested/*.conf\n`);
    // Nested, and a loop back to the start: each file is read once.
    write("nested/n.conf", `/opt/g\ninclude ${etc}/ld.so.conf\n`);
    assert.deepEqual(configuredLibraries(`${etc}/ld.so.conf`).toSorted(), [
      "/opt/a",
      "/opt/b",
      "/opt/d",
      "/opt/f",
      "/opt/g",
      "/opt/typed",
    ]);
    assert.deepEqual(configuredLibraries(`${etc}/missing.conf`), []);
  } finally {
    Deno.removeSync(etc, { recursive: true });
  }
});

Deno.test("the loader's include patterns match as fnmatch(3) does, in linear time, never throwing", async () => {
  const { globMatch, configuredLibraries } = await import("../../runner/sandbox/loader_config.ts");
  const cases: [string, string, boolean][] = [
    ["*.conf", "a.conf", true],
    ["*.conf", ".a.conf", false], // a leading dot only by a literal one
    [".h*.conf", ".hidden.conf", true],
    ["[[:digit:]].conf", "7.conf", true],
    ["[!]a].conf", "b.conf", true], // a "]" first in a set is literal
    ["[!]a].conf", "].conf", false],
    ["x\\*.conf", "x*.conf", true], // an escaped star is a star
    ["x\\*.conf", "xy.conf", false],
    ["[z-a].conf", "m.conf", false], // a range out of order matches nothing
    ["[abc", "[abc", true], // an open bracket that never closes is literal
    ["lib?.conf", "libz.conf", true],
    // Exponential for a backtracking regular expression (minutes); one pass here.
    ["*a*a*a*a*a*ab", "a".repeat(200), false],
  ];
  for (const [pattern, name, expected] of cases) {
    assert.equal(globMatch(pattern, name), expected, `${pattern} against ${name.slice(0, 20)}`);
  }
  const etc = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${etc}/d`);
    Deno.writeTextFileSync(`${etc}/d/.h.conf`, "/opt/hidden\n");
    Deno.writeTextFileSync(`${etc}/d/7.conf`, "/opt/digit\n");
    Deno.writeTextFileSync(
      `${etc}/ld.so.conf`,
      `include ${etc}/d/.h*.conf ${etc}/d/[[:digit:]].conf ${etc}/d/[z-a].conf\n`,
    );
    assert.deepEqual(configuredLibraries(`${etc}/ld.so.conf`).toSorted(), [
      "/opt/digit",
      "/opt/hidden",
    ]);
  } finally {
    Deno.removeSync(etc, { recursive: true });
  }
});

Deno.test("the loader's configuration, out of the host's read permission, is an error, not nothing", async () => {
  // Read as empty, the folders it names would be no code roots: a write grant over one would pass.
  const loader = new URL("../../runner/sandbox/loader_config.ts", import.meta.url).href;
  const dir = Deno.makeTempDirSync();
  try {
    const main = `${dir}/main.ts`;
    Deno.writeTextFileSync(
      main,
      `import { configuredLibraries } from "${loader}";
try {
  configuredLibraries();
  console.log("read");
} catch (error) {
  console.log(error instanceof Deno.errors.NotCapable ? "NotCapable" : String(error));
}`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", `--allow-read=${dir}`, "--no-prompt", main],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "NotCapable");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the loader's configuration is read within bounds: a huge file, many includes, a FIFO", async () => {
  const { configuredLibraries, MAX_FILE_BYTES, MAX_FILES } = await import(
    "../../runner/sandbox/loader_config.ts"
  );
  const etc = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    // A folder line past the byte cap is not read; the one before it is.
    Deno.writeTextFileSync(
      `${etc}/big.conf`,
      "/opt/first\n" + "#".repeat(MAX_FILE_BYTES) + "\n/opt/past-the-cap\n",
    );
    assert.deepEqual(configuredLibraries(`${etc}/big.conf`), ["/opt/first"]);
    // Nor is a line the cap cuts: "/op" of "/opt/cut" is no folder the file names.
    Deno.writeTextFileSync(
      `${etc}/cut.conf`,
      "/opt/first\n" + "#".repeat(MAX_FILE_BYTES - 15) + "\n/opt/cut\n",
    );
    assert.deepEqual(configuredLibraries(`${etc}/cut.conf`), ["/opt/first"]);
    // A file of exactly the cap ends there: its last line is whole, newline or not.
    const head = "/opt/first\n";
    const tail = "\n/opt/last";
    Deno.writeTextFileSync(
      `${etc}/exact.conf`,
      head + "#".repeat(MAX_FILE_BYTES - head.length - tail.length) + tail,
    );
    assert.equal(Deno.statSync(`${etc}/exact.conf`).size, MAX_FILE_BYTES);
    assert.deepEqual(configuredLibraries(`${etc}/exact.conf`), ["/opt/first", "/opt/last"]);
    // Below the cap a file is read whole, however many reads and buffer sizes that takes.
    Deno.writeTextFileSync(
      `${etc}/long.conf`,
      "/opt/first\n" + "#".repeat(MAX_FILE_BYTES / 2) + "\n/opt/last\n",
    );
    assert.deepEqual(configuredLibraries(`${etc}/long.conf`), ["/opt/first", "/opt/last"]);
    // A chain of includes longer than the file cap ends at the cap.
    for (let i = 0; i < MAX_FILES + 10; i++) {
      Deno.writeTextFileSync(`${etc}/c${i}.conf`, `/opt/c${i}\ninclude ${etc}/c${i + 1}.conf\n`);
    }
    assert.equal(configuredLibraries(`${etc}/c0.conf`).length, MAX_FILES);
    // A FIFO an include names is not opened: a synchronous open would wait for a writer forever,
    // and hold the host's event loop with it (so this runs in a child, with a deadline).
    Deno.mkdirSync(`${etc}/fifo.d`);
    const made = new Deno.Command("mkfifo", { args: [`${etc}/fifo.d/a.conf`] }).outputSync();
    assert.ok(made.success, "mkfifo");
    Deno.writeTextFileSync(`${etc}/with-fifo.conf`, `include ${etc}/fifo.d/*.conf\n/opt/after\n`);
    const loader = new URL("../../runner/sandbox/loader_config.ts", import.meta.url).href;
    const read = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { configuredLibraries } from "${loader}";` +
        `console.log(JSON.stringify(configuredLibraries("${etc}/with-fifo.conf")));`,
      ],
      stdout: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    assert.ok(read.success, "the read ended (a FIFO opened would hang it)");
    assert.equal(new TextDecoder().decode(read.stdout).trim(), '["/opt/after"]');
  } finally {
    Deno.removeSync(etc, { recursive: true });
  }
});
