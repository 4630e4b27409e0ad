// THREATS T1-T5 and T12 (imports): attacks that live in the module graph or
// the plugin's folder, refused before any plugin process starts. Each group
// also runs the attack without plugbox, to show it is real.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { PreflightError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache, rejected, testDeadline, until } from "../_helpers.ts";
import {
  hostile,
  ISOLATIONS,
  peakMemory,
  plainRun,
  plantSecrets,
  pluginDenoPid,
  pluginFolder,
  recordingServer,
  SECRET_DIR,
  tempDir,
} from "./_hostile.ts";

async function refusal(module: string, isolation: string, extra: Record<string, unknown> = {}) {
  const error = await rejected<PreflightError>(
    startPlugin(module, { contracts: [Probe], isolation: isolation as "auto", ...extra }),
  );
  assert.ok(error instanceof PreflightError, `expected PreflightError, got ${error}`);
  return error;
}

// T1: file read through the module graph

const T1_CASES = [
  ["t1_text_import_outside_root.ts", "file:///etc/passwd"],
  ["t1_json_import_outside_root.ts", "file:///tmp/plugbox-hostile/secret.json"],
  ["t1_js_import_leaks_first_line.ts", "file:///tmp/plugbox-hostile/secret"],
  ["t1_parent_traversal.ts", "../../../../../../../../../../../tmp/plugbox-hostile/secret.txt"],
] as const;

for (const isolation of ISOLATIONS) {
  Deno.test(`T1 [${isolation}]: imports of files outside the plugin's folder are refused, naming import and importer`, async () => {
    await plantSecrets();
    for (const [file, specifier] of T1_CASES) {
      const error = await refusal(hostile(file), isolation);
      assert.equal(error.reason, "outside-root", file);
      assert.equal(error.specifier, specifier, file);
      assert.equal(error.importer, hostile(file), file);
      assert.match(error.message, /leaves the plugin's folder/);
    }
  });
}

Deno.test("T1 control: without plugbox each import reads a file it was never granted", async () => {
  await plantSecrets();
  assert.match((await plainRun(hostile("t1_text_import_outside_root.ts"))).stderr, /LEAK: root:/);
  assert.match(
    (await plainRun(hostile("t1_json_import_outside_root.ts"))).stderr,
    /LEAK: .*TOP-SECRET-JSON/,
  );
  assert.match(
    (await plainRun(hostile("t1_js_import_leaks_first_line.ts"))).stderr,
    /TOP-SECRET-TEXT/,
  );
  assert.match((await plainRun(hostile("t1_parent_traversal.ts"))).stderr, /LEAK: TOP-SECRET-TEXT/);
});

/** The host's own environment through /proc: the plugin is written with the host's pid. */
function environThief(pid: number): string {
  return `import env from "file:///proc/${pid}/environ" with { type: "text" };\n` +
    `console.error("LEAK: " + env.split("\\0").find((v) => v.startsWith("PLUGBOX_T1_SECRET=")));\n`;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T1 [${isolation}]: the host's environment through /proc/<pid>/environ is refused`, async () => {
    await using folder = await pluginFolder({ "main.ts": environThief(Deno.pid) });
    const error = await refusal(join(folder.dir, "main.ts"), isolation);
    assert.equal(error.reason, "outside-root");
    assert.equal(error.specifier, `file:///proc/${Deno.pid}/environ`);
  });
}

Deno.test("T1 control: without plugbox a plugin reads another process's environment", async () => {
  // A stand-in for the host: a process whose environment holds a secret.
  const host = new Deno.Command("sleep", {
    args: ["60"],
    env: { PLUGBOX_T1_SECRET: "host-secret" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await using folder = await pluginFolder({ "main.ts": environThief(host.pid) });
    const leak = await plainRun(join(folder.dir, "main.ts"));
    assert.match(leak.stderr, /LEAK: PLUGBOX_T1_SECRET=host-secret/);
  } finally {
    host.kill("SIGKILL");
    await host.status;
  }
});

// T2: links and special files in (or named by) the plugin

async function readHostile(name: string): Promise<string> {
  return await Deno.readTextFile(hostile(name));
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T2 [${isolation}]: links, hard links and FIFOs in the plugin's folder are refused, naming the path`, async () => {
    await plantSecrets();
    const cases = [
      [
        "t2_symlink_in_folder.ts",
        "secret_link.js",
        { symlink: join(SECRET_DIR, "secret.js") },
        /symbolic link/,
      ],
      [
        "t2_symlinked_folder.ts",
        "linked",
        { symlink: join(SECRET_DIR, "config") },
        /symbolic link/,
      ],
      ["t2_hardlink_in_folder.ts", "secret_hardlink.txt", {
        hardlink: join(SECRET_DIR, "secret.txt"),
      }, /hard link/],
      ["t2_fifo_in_folder.ts", "pipe", { fifo: true as const }, /a FIFO/],
    ] as const;
    for (const [plugin, name, spec, message] of cases) {
      await using folder = await pluginFolder({
        "main.ts": await readHostile(plugin),
        [name]: spec,
      });
      const error = await refusal(join(folder.dir, "main.ts"), isolation);
      assert.equal(error.reason, "special-file", plugin);
      assert.equal(error.path, join(folder.dir, name));
      assert.match(error.message, message);
    }
  });
}

Deno.test("T2 control: without plugbox the link and the hard link leak, and the FIFO hangs startup", async () => {
  await plantSecrets();
  for (
    const [plugin, name, spec] of [
      ["t2_symlink_in_folder.ts", "secret_link.js", { symlink: join(SECRET_DIR, "secret.js") }],
      ["t2_symlinked_folder.ts", "linked", { symlink: join(SECRET_DIR, "config") }],
      ["t2_hardlink_in_folder.ts", "secret_hardlink.txt", {
        hardlink: join(SECRET_DIR, "secret.txt"),
      }],
    ] as const
  ) {
    await using folder = await pluginFolder({ "main.ts": await readHostile(plugin), [name]: spec });
    assert.match((await plainRun(join(folder.dir, "main.ts"))).stderr, /LEAK: TOP-SECRET-TEXT/);
  }
  await using folder = await pluginFolder({
    "main.ts": await readHostile("t2_fifo_in_folder.ts"),
    pipe: { fifo: true },
  });
  const hung = await plainRun(join(folder.dir, "main.ts"), { timeoutMs: 2000 });
  assert.equal(
    hung.signal,
    "SIGKILL",
    "killed by the control's own deadline: startup never finished",
  );
});

async function makeFifo(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
  const made = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(made.success);
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T2 [${isolation}]: an import of a FIFO outside the folder cannot hang the start`, async () => {
    await plantSecrets();
    await makeFifo(join(SECRET_DIR, "pipe.js"));
    const error = await refusal(hostile("t2_fifo_import_outside.ts"), isolation, {
      preflightTimeout: 3000,
    });
    if (error.reason === "outside-root") {
      // Under the OS layer the FIFO is not even visible, so the graph resolves and names it.
      assert.equal(error.specifier, "file:///tmp/plugbox-hostile/pipe.js");
    } else {
      // Under the Deno layer `deno info` blocks on the FIFO until its deadline.
      assert.equal(error.reason, "graph-failed");
      assert.match(
        error.message,
        /longer than 3000 ms .*"file:\/\/\/tmp\/plugbox-hostile\/pipe\.js"/,
      );
    }
  });
}

Deno.test("T2 control: without a deadline, `deno info` on a FIFO import never returns", async () => {
  await plantSecrets();
  await makeFifo(join(SECRET_DIR, "pipe.js"));
  const info = await plainRun(hostile("t2_fifo_import_outside.ts"), {
    subcommand: "info",
    timeoutMs: 2000,
  });
  assert.equal(info.signal, "SIGKILL", "killed by the control's own deadline");
});

/** The preflight's memory bound under each layer, in MiB (see plan.ts: 256 + Deno's reservations). */
const PREFLIGHT_PEAK_MIB = { deno: 768, os: 128 };

for (const isolation of ISOLATIONS) {
  Deno.test(`T2 [${isolation}]: an import of /dev/zero is refused, and the check's memory stays bounded`, async () => {
    testDeadline(90_000);
    await using cache = await freshCache();
    const watch = peakMemory(["info", "t2_dev_zero_import.ts"]);
    const error = await refusal(hostile("t2_dev_zero_import.ts"), isolation, {
      cacheDir: cache.path,
    }).finally(() => watch.stop());
    const peak = await watch.stop();
    assert.ok(watch.seen.size > 0, "the check ran (and was watched)");
    // The check's own output names it, or (rarely) the check dies at its cap first.
    assert.ok(["outside-root", "graph-failed"].includes(error.reason), error.message);
    assert.match(error.message, /dev\/zero/);
    const layer = isolation === "deno" ? "deno" : "os";
    // Under the OS layer the check has no /dev at all: the import fails at once. Under the
    // Deno layer it reads /dev/zero until its own memory cap stops it.
    assert.ok(peak < PREFLIGHT_PEAK_MIB[layer], `the check peaked at ${Math.round(peak)} MiB`);
  });
}

Deno.test("T2 control: without plugbox an import of /dev/zero eats memory until something stops it", async () => {
  testDeadline(90_000);
  // Capped at 3 GiB so the control cannot hurt the machine; uncapped it grew past 3 GB. Once it
  // has passed 1 GiB (what is observed) it is ended, rather than left to reach the cap.
  const watch = peakMemory(["run", "t2_dev_zero_import.ts"]);
  let ended = false;
  const running = plainRun(hostile("t2_dev_zero_import.ts"), {
    prefix: ["prlimit", `--data=${3072 * 1024 * 1024}`, "--"],
    timeoutMs: 60_000,
  }).finally(() => ended = true);
  await until(() => ended || watch.peak() > 1024, 70_000, "the plain run to pass 1 GiB");
  for (const pid of watch.seen) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const run = await running;
  const peak = await watch.stop();
  assert.notEqual(run.code, 0);
  assert.ok(peak > 1024, `the plain run peaked at only ${Math.round(peak)} MiB`);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T2 [${isolation}]: the plugin runs from a read-only snapshot that later changes cannot reach`, async () => {
    const { Greeter } = await import("../../plugins/hello/contract.ts");
    // A cache of its own: the snapshot is written by this start, not found from an earlier one.
    await using cache = await freshCache();
    await using folder = await pluginFolder({
      "contract.ts": await Deno.readTextFile(
        new URL("../../plugins/hello/contract.ts", import.meta.url),
      ),
      "main.ts": await Deno.readTextFile(new URL("../../plugins/hello/main.ts", import.meta.url)),
    });
    await using plugin = await startPlugin(join(folder.dir, "main.ts"), {
      contracts: [Greeter],
      isolation: isolation as "auto",
      cacheDir: cache.path,
    });
    assert.notEqual(plugin.plan.snapshot.dir, folder.dir);
    assert.ok(
      plugin.plan.args.includes(plugin.plan.snapshot.entry),
      "the snapshot's entry is what runs",
    );
    // Change the plugin's folder after the check: the running plugin does not see it.
    await Deno.writeTextFile(
      join(folder.dir, "main.ts"),
      "console.error('swapped in after the check');",
    );
    assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a");
    assert.equal((await Deno.stat(plugin.plan.snapshot.dir)).mode! & 0o777, 0o555);
    for await (const entry of Deno.readDir(plugin.plan.snapshot.dir)) {
      const mode = (await Deno.stat(join(plugin.plan.snapshot.dir, entry.name))).mode! & 0o777;
      assert.equal(mode, 0o444, `${entry.name} is read-only`);
    }
    if (plugin.isolation === "os") {
      // And mounted read-only: the kernel refuses writes whatever the plugin's id.
      const mounts = Deno.readTextFileSync(`/proc/${pluginDenoPid(plugin.plan.nonce)}/mountinfo`);
      const line = mounts.split("\n").find((l) => l.split(" ")[4] === plugin.plan.snapshot.dir);
      assert.ok(line, mounts);
      assert.match(line.split(" ")[5], /^ro(,|$)/);
    }
    // The plugin cannot write its own snapshot: it was not granted, and a grant is refused.
    await assert.rejects(
      startPlugin(join(folder.dir, "main.ts"), {
        contracts: [Greeter],
        isolation: isolation as "auto",
        cacheDir: cache.path,
        permissions: { write: [plugin.plan.snapshot.dir] },
        unsafe: { writeAsRoot: true },
      }),
      /holds code/,
    );
  });
}

// T3, T4: remote and registry imports in the graph

for (const isolation of ISOLATIONS) {
  Deno.test(`T3/T4 [${isolation}]: remote, jsr: and npm: imports are refused before start`, async () => {
    const cases = [
      ["t3_remote_import.ts", "https://esm.sh/left-pad?data=stolen-secret"],
      ["t3_jsr_import.ts", "jsr:@std/path@1"],
      ["t4_npm_import.ts", "npm:left-pad@1"],
    ] as const;
    for (const [file, specifier] of cases) {
      const error = await refusal(hostile(file), isolation);
      assert.equal(error.reason, "remote", file);
      assert.equal(error.specifier, specifier);
      assert.equal(error.importer, hostile(file));
    }
  });
}

Deno.test("T3 control: without plugbox a remote import is fetched with no --allow-net", async () => {
  // The machine has no internet; a proxy on 127.0.0.1 shows the fetch being attempted.
  await using proxy = recordingServer();
  const env = { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, NO_COLOR: "1" };
  await plainRun(hostile("t3_remote_import.ts"), { env, timeoutMs: 20_000 });
  assert.ok(proxy.requests.includes("CONNECT esm.sh:443 HTTP/1.1"), JSON.stringify(proxy.requests));
  await plainRun(hostile("t3_jsr_import.ts"), { env, timeoutMs: 20_000 });
  assert.ok(
    proxy.requests.some((r) => r.startsWith("CONNECT jsr.io:443")),
    JSON.stringify(proxy.requests),
  );
});

Deno.test("T4 control: without plugbox an npm: import is downloaded with zero permissions", async () => {
  await using registry = recordingServer();
  await using denoDir = await tempDir();
  await plainRun(hostile("t4_npm_import.ts"), {
    env: { NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.port}/`, DENO_DIR: denoDir.path },
    timeoutMs: 20_000,
  });
  assert.ok(
    registry.requests.includes("GET /left-pad HTTP/1.1"),
    JSON.stringify(registry.requests),
  );
});

// T5: config files beside the plugin, and what `deno run NAME` means

for (const isolation of ISOLATIONS) {
  Deno.test(`T5 [${isolation}]: deno.json, package.json and .npmrc in the plugin's folder are refused`, async () => {
    const main = await readHostile("t5_config_beside_plugin.ts");
    for (
      const [name, text] of [
        ["deno.json", '{ "unstable": ["kv"] }'],
        ["package.json", '{ "type": "module" }'],
        [".npmrc", "registry=http://127.0.0.1:9/\n"],
        ["deno.lock", "{}"],
      ]
    ) {
      await using folder = await pluginFolder({ "main.ts": main, [name]: text });
      const error = await refusal(join(folder.dir, "main.ts"), isolation);
      assert.equal(error.reason, "config-file");
      assert.equal(error.path, join(folder.dir, name));
    }
  });
}

Deno.test("T5 control: without plugbox a deno.json beside the plugin turns on unstable APIs", async () => {
  await using folder = await pluginFolder({
    "main.ts": await readHostile("t5_config_beside_plugin.ts"),
    "deno.json": '{ "unstable": ["kv"] }',
  });
  const run = await plainRun("main.ts", { cwd: folder.dir });
  assert.match(run.stderr, /openKv is ENABLED/);
});

Deno.test("T5 control: `deno run NAME` runs the deno.json task NAME when no file NAME exists", async () => {
  await using folder = await pluginFolder({
    "deno.json": JSON.stringify({ tasks: { plugin: "echo task-ran-unsandboxed > marker" } }),
  });
  await plainRun("plugin", { cwd: folder.dir });
  assert.equal(
    (await Deno.readTextFile(join(folder.dir, "marker"))).trim(),
    "task-ran-unsandboxed",
  );
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T5 [${isolation}]: plugins always start as an absolute path to a regular file, with --no-config --no-lock`, async () => {
    const { previewStart } = await import("../../mod.ts");
    const plan = await previewStart(hostile("t7_web_storage.ts"), {
      isolation: isolation as "auto",
    });
    const run = plan.args.indexOf("run");
    assert.ok(run >= 0);
    assert.equal(
      plan.args.filter((a) => ["serve", "task", "eval", "repl", "x"].includes(a)).length,
      0,
    );
    for (const flag of ["--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt"]) {
      assert.ok(plan.args.includes(flag), flag);
    }
    const entry = plan.args.find((a) => a.endsWith("t7_web_storage.ts"))!;
    assert.ok(entry.startsWith("/") && (await Deno.lstat(entry)).isFile);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(plan.env.HOME)),
      [],
      "HOME is an empty folder",
    );
    await assert.rejects(startPlugin("no-such-plugin", { contracts: [Probe] }), TypeError);
    const folder = await refusal(new URL("./plugins", import.meta.url).pathname, isolation);
    assert.equal(folder.reason, "entry");
  });
}

// T5 and T14: the check runs with the run's flags and environment, whatever sits around it

/** A plugin that imports "./helper" without its extension: only sloppy imports resolve it. */
const SLOPPY = {
  "main.ts": 'import "./helper";\n',
  "helper.ts": 'console.error("helper loaded");\n',
};

for (const isolation of ISOLATIONS) {
  Deno.test(`T5 [${isolation}]: a deno.json above the plugin (in the cache, the home folder) is obeyed by neither the check nor the run`, async () => {
    await using cache = await freshCache();
    // Deno looks for a config file in every folder above the module; the snapshot is in the cache.
    await Deno.writeTextFile(
      join(cache.path, "deno.json"),
      JSON.stringify({ unstable: ["sloppy-imports", "kv"] }),
    );
    await using folder = await pluginFolder(SLOPPY);
    const error = await refusal(join(folder.dir, "main.ts"), isolation, { cacheDir: cache.path });
    assert.equal(error.reason, "unresolved", "the check did not take sloppy imports from it");
    const plugin = await startPlugin(hostile("t5_config_beside_plugin.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      cacheDir: cache.path,
    });
    await using _ = plugin;
    assert.match(await plugin.api(Probe).attempt(), /openKv is disabled/, "the run did not either");
  });
}

Deno.test("T5 control: without --no-config a deno.json above the module is obeyed by deno info and deno run", async () => {
  await using above = await tempDir();
  await Deno.writeTextFile(
    join(above.path, "deno.json"),
    JSON.stringify({ unstable: ["sloppy-imports", "kv"] }),
  );
  await Deno.mkdir(join(above.path, "plugin"));
  for (const [name, text] of Object.entries(SLOPPY)) {
    await Deno.writeTextFile(join(above.path, "plugin", name), text);
  }
  const main = join(above.path, "plugin", "main.ts");
  const info = await plainRun(main, { subcommand: "info", flags: ["--json"], cwd: dirname(main) });
  assert.ok(
    JSON.parse(info.stdout).modules.some((m: { specifier: string }) =>
      m.specifier.endsWith("/helper.ts")
    ),
    "deno info resolved ./helper through the config above",
  );
  const run = await plainRun(main, { cwd: dirname(main) });
  assert.match(run.stderr, /helper loaded/);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T14 [${isolation}]: the check does not inherit the host's environment`, async () => {
    await using cache = await freshCache();
    await using folder = await pluginFolder(SLOPPY);
    const before = Deno.env.get("DENO_UNSTABLE_SLOPPY_IMPORTS");
    Deno.env.set("DENO_UNSTABLE_SLOPPY_IMPORTS", "1");
    try {
      const error = await refusal(join(folder.dir, "main.ts"), isolation, { cacheDir: cache.path });
      assert.equal(error.reason, "unresolved", "the host's variable did not reach `deno info`");
    } finally {
      before === undefined
        ? Deno.env.delete("DENO_UNSTABLE_SLOPPY_IMPORTS")
        : Deno.env.set("DENO_UNSTABLE_SLOPPY_IMPORTS", before);
    }
  });
}

Deno.test("T14 control: `deno info` with the host's environment resolves what the run would not", async () => {
  await using folder = await pluginFolder(SLOPPY);
  const main = join(folder.dir, "main.ts");
  const info = await plainRun(main, {
    subcommand: "info",
    flags: ["--json", "--no-config"],
    env: { DENO_UNSTABLE_SLOPPY_IMPORTS: "1" },
  });
  assert.ok(
    JSON.parse(info.stdout).modules.some((m: { specifier: string }) =>
      m.specifier.endsWith("/helper.ts")
    ),
  );
});

/** The per-plugin home plugbox made for a plugin in `cache` (after a first planning attempt). */
async function pluginHome(cache: string): Promise<string> {
  const [entry] = await Array.fromAsync(Deno.readDir(join(cache, "plugins")));
  return join(cache, "plugins", entry.name, "home");
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T4 [${isolation}]: the check never downloads an npm: import, even pointed at a registry it reaches`, async () => {
    await using cache = await freshCache();
    await using registry = recordingServer();
    const options = {
      cacheDir: cache.path,
      // Network in the check's view, so a download would reach the registry.
      permissions: { net: [`127.0.0.1:${registry.port}`] },
      unsafe: { privateNetwork: true },
    };
    await refusal(hostile("t4_npm_import.ts"), isolation, options);
    // The plugin's own HOME (plugbox's) points npm at the local registry.
    await Deno.writeTextFile(
      join(await pluginHome(cache.path), ".npmrc"),
      `registry=http://127.0.0.1:${registry.port}/\n`,
    );
    const error = await refusal(hostile("t4_npm_import.ts"), isolation, options);
    assert.equal(error.reason, "remote");
    assert.deepEqual(registry.requests, [], "nothing was fetched");
  });
}

// T12: the terminal through the module graph

for (const isolation of ISOLATIONS) {
  Deno.test(`T12 [${isolation}]: a literal import of /dev/tty is refused`, async () => {
    const error = await refusal(hostile("t12_dev_tty_import.ts"), isolation);
    assert.equal(error.reason, "outside-root");
    assert.equal(error.specifier, "file:///dev/tty");
  });
}

Deno.test("T12 control: without plugbox an import of /dev/tty returns what the person types", async () => {
  // `script` gives the plain run a terminal, and types into it.
  const script = new Deno.Command("script", {
    args: [
      "-qec",
      `${Deno.execPath()} run --no-prompt ${hostile("t12_dev_tty_import.ts")}`,
      "/dev/null",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = script.stdin.getWriter();
  await writer.write(new TextEncoder().encode("typed-password\n\x04"));
  await writer.close();
  const out = await script.output();
  assert.match(new TextDecoder().decode(out.stdout), /LEAK: typed-password/);
});
