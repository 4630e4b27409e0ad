// THREATS T3-T7, T12 and T13 at run time: attacks a plugin makes while it
// runs, after the graph check, and the hardened spawn that stops them. Each
// group also shows the attack working without plugbox.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import {
  freePort,
  hostile,
  isListening,
  ISOLATIONS,
  plainRun,
  pluginDenoPid,
  procStat,
  recordingServer,
  SECRET_DIR,
  tempDir,
} from "./_hostile.ts";

/**
 * Sets host environment variables for the duration of `body`. Plans a plugin
 * first, so a first-use SDK build (a `deno bundle`, which honours the host's
 * registry settings) happens before the environment is poisoned.
 */
async function withHostEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  await previewStart(hostile("t7_web_storage.ts"), { cacheDir });
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    await body();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

/** plugbox's cache, fixed before any test changes HOME (which would move it). */
const cacheDir = dirname(dirname((await previewStart(hostile("t7_web_storage.ts"))).snapshot.dir));

// T3, T4 (and T6's proxy and registry variables): imports computed at run time

for (const isolation of ISOLATIONS) {
  Deno.test(`T3 [${isolation}]: a remote import computed at run time is never fetched, even by a plugin granted everything`, async () => {
    await using cache = await freshCache();
    await using server = recordingServer();
    await using proxy = recordingServer();
    const url = `http://127.0.0.1:${proxy.port}`;
    await withHostEnv({ HTTPS_PROXY: url, HTTP_PROXY: url, ALL_PROXY: url }, async () => {
      // `all` includes import permission for any host, and network: only --no-remote stands.
      await using plugin = await startPlugin(hostile("t3_computed_remote_import.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        cacheDir: cache.path,
        permissions: { all: true },
        unsafe: { all: true },
      });
      const outcome = await plugin.api(Probe).attempt(`http://127.0.0.1:${server.port}/mod.js`);
      assert.match(outcome, /^refused: /);
      assert.match(await plugin.api(Probe).attempt(), /^refused: /);
    });
    assert.deepEqual(server.requests, [], "the module was never requested");
    assert.deepEqual(proxy.requests, [], "nor through the host's proxy");
  });
}

Deno.test("T3 control: without plugbox the computed remote import is fetched", async () => {
  await using server = recordingServer();
  await using proxy = recordingServer();
  const run = await plainRun(hostile("t3_computed_remote_import.ts"), {
    config: true,
    // Fetched afresh: the shared Deno dir may hold this URL from an earlier run that got the same
    // port, and Deno would load that copy without a request (a CI run failed so).
    flags: ["--allow-all", `--reload=http://127.0.0.1:${server.port}/mod.js`],
    args: [`http://127.0.0.1:${server.port}/mod.js`],
    timeoutMs: 20_000,
  });
  assert.deepEqual(server.requests, ["GET /mod.js HTTP/1.1"], run.stderr);
  await plainRun(hostile("t3_computed_remote_import.ts"), {
    config: true,
    env: { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` },
    timeoutMs: 20_000,
  });
  assert.ok(proxy.requests.includes("CONNECT esm.sh:443 HTTP/1.1"), JSON.stringify(proxy.requests));
});

/** Plans `file` in `cache` and returns the HOME plugbox made for it. */
async function homeOf(file: string, cache: string, isolation: string): Promise<string> {
  const plan = await previewStart(hostile(file), {
    isolation: isolation as "auto",
    cacheDir: cache,
  });
  return plan.env.HOME;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T4 [${isolation}]: an npm: import computed at run time is never downloaded, even with a registry set`, async () => {
    await using cache = await freshCache();
    await using registry = recordingServer();
    // The plugin's own HOME points npm at a registry the plugin can reach.
    const home = await homeOf("t4_computed_npm_import.ts", cache.path, isolation);
    await Deno.writeTextFile(join(home, ".npmrc"), `registry=http://127.0.0.1:${registry.port}/\n`);
    await using plugin = await startPlugin(hostile("t4_computed_npm_import.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      cacheDir: cache.path,
      permissions: { net: [`127.0.0.1:${registry.port}`] },
      unsafe: { privateNetwork: true },
    });
    assert.match(await plugin.api(Probe).attempt(), /^refused: /);
    assert.deepEqual(registry.requests, [], "nothing was downloaded");
  });
}

Deno.test("T4 control: without plugbox the computed npm: import is downloaded", async () => {
  await using registry = recordingServer();
  await using denoDir = await tempDir();
  await plainRun(hostile("t4_npm_attack.ts"), {
    env: { NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.port}/`, DENO_DIR: denoDir.path },
    timeoutMs: 20_000,
  });
  assert.ok(
    registry.requests.includes("GET /left-pad HTTP/1.1"),
    JSON.stringify(registry.requests),
  );
});

// T5: HOME is an empty folder of plugbox's, one per plugin, never the host's

for (const isolation of ISOLATIONS) {
  Deno.test(`T5 [${isolation}]: a plugin's home is its own empty folder, not the host's or another plugin's`, async () => {
    await using cache = await freshCache();
    await using hostHome = await tempDir();
    await Deno.writeTextFile(join(hostHome.path, ".npmrc"), "registry=http://127.0.0.1:9/\n");
    const homes: string[] = [];
    await withHostEnv({ HOME: hostHome.path }, async () => {
      for (const root of [dirname(hostile("t5_home.ts")), await copyOf("t5_home.ts")]) {
        await using plugin = await startPlugin(join(root, "t5_home.ts"), {
          contracts: [Probe],
          isolation: isolation as "auto",
          cacheDir: cache.path,
          permissions: { sys: ["homedir"] },
          manifest: "ignore",
        });
        const home = (await plugin.api(Probe).attempt()).replace(/^home is /, "");
        homes.push(home);
        assert.equal(home, plugin.plan.env.HOME);
        assert.deepEqual(await Array.fromAsync(Deno.readDir(home)), [], "empty");
      }
    });
    assert.ok(!homes.includes(hostHome.path), "never the host's home (with its .npmrc)");
    assert.notEqual(homes[0], homes[1], "one per plugin");
  });
}

/** A copy of a hostile plugin (and the probe contract) in a folder of its own. */
async function copyOf(file: string): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-copy-" }));
  await Deno.copyFile(hostile(file), join(dir, file));
  await Deno.copyFile(hostile("probe.ts"), join(dir, "probe.ts"));
  copies.push(dir);
  return dir;
}
const copies: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of copies) Deno.removeSync(dir, { recursive: true });
});

Deno.test("T5 control: without plugbox a plugin's home is the host's", async () => {
  await using home = await tempDir();
  const run = await plainRun(hostile("t5_home.ts"), {
    config: true,
    flags: ["--allow-sys=homedir"],
    // The host's Deno dir, where the SDK's zod is cached: only HOME changes.
    env: {
      HOME: home.path,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME")!, ".cache", "deno"),
    },
  });
  assert.match(run.stderr, new RegExp(`home is ${home.path}`));
});

Deno.test("T5 control: without plugbox ~/.npmrc redirects npm lookups, even with --no-config", async () => {
  await using registry = recordingServer();
  await using home = await tempDir();
  await Deno.writeTextFile(
    join(home.path, ".npmrc"),
    `registry=http://127.0.0.1:${registry.port}/\n`,
  );
  await using denoDir = await tempDir();
  await plainRun(hostile("t4_npm_attack.ts"), {
    flags: ["--no-config"],
    env: { HOME: home.path, DENO_DIR: denoDir.path },
    timeoutMs: 20_000,
  });
  assert.ok(
    registry.requests.includes("GET /left-pad HTTP/1.1"),
    JSON.stringify(registry.requests),
  );
});

// T6: the inherited environment

async function injectedCode(): Promise<string> {
  const path = join(SECRET_DIR, "pwn.cjs");
  await Deno.mkdir(SECRET_DIR, { recursive: true });
  await Deno.writeTextFile(path, "globalThis.__pwned = true;\n");
  return path;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T6 [${isolation}]: NODE_OPTIONS, DENO_V8_FLAGS and friends do not reach the plugin`, async () => {
    const pwn = await injectedCode();
    await withHostEnv({
      NODE_OPTIONS: `--require ${pwn}`,
      DENO_V8_FLAGS: "--expose-gc",
      DENO_AUTH_TOKENS: "secret-token@example.com",
      DENO_CERT: "/nonexistent.pem",
      SECRET_API_KEY: "host-secret",
    }, async () => {
      await using plugin = await startPlugin(hostile("t6_inherited_environment.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
      });
      assert.equal(
        await plugin.api(Probe).attempt(),
        "NODE_OPTIONS code ran: false; DENO_V8_FLAGS applied: false",
      );
      const expected = [
        "DENO_DIR",
        "DENO_EMIT_CACHE_MODE",
        "DENO_NO_UPDATE_CHECK",
        "DENO_WEBGPU_BACKEND",
        "HOME",
        "NO_COLOR",
        "PWD",
      ];
      assert.deepEqual(Object.keys(plugin.plan.env).sort(), expected);
      const environ = Deno.readTextFileSync(`/proc/${pluginDenoPid(plugin.plan.nonce)}/environ`);
      const actual = Object.fromEntries(
        environ.split("\0").filter(Boolean).map((v) => v.split(/=(.*)/s)),
      );
      assert.deepEqual(actual, plugin.plan.env, "the process's environment is exactly the plan's");
      // With the permission audit on, exactly one more: the audit file Deno writes its checks to.
      await using audited = await startPlugin(hostile("t6_inherited_environment.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        audit: true,
      });
      assert.deepEqual(
        Object.keys(audited.plan.env).sort(),
        [...expected, "DENO_AUDIT_PERMISSIONS"].sort(),
      );
      assert.equal(audited.plan.env.DENO_AUDIT_PERMISSIONS, audited.plan.audit!.log);
      const auditedEnviron = Deno.readTextFileSync(
        `/proc/${pluginDenoPid(audited.plan.nonce)}/environ`,
      );
      assert.deepEqual(
        Object.fromEntries(
          auditedEnviron.split("\0").filter(Boolean).map((v) => v.split(/=(.*)/s)),
        ),
        audited.plan.env,
      );
    });
  });
}

Deno.test("T6 control: without plugbox the host's NODE_OPTIONS and DENO_V8_FLAGS run in the plugin", async () => {
  const pwn = await injectedCode();
  const run = await plainRun(hostile("t6_inherited_environment.ts"), {
    config: true,
    env: { NODE_OPTIONS: `--require ${pwn}`, DENO_V8_FLAGS: "--expose-gc" },
  });
  assert.match(run.stderr, /NODE_OPTIONS code ran: true; DENO_V8_FLAGS applied: true/);
});

Deno.test("T6: an env grant passes exactly the named variables", async () => {
  await withHostEnv({ PLUGBOX_T6_GRANTED: "yes", PLUGBOX_T6_OTHER: "no" }, async () => {
    await using plugin = await startPlugin(hostile("t6_inherited_environment.ts"), {
      contracts: [Probe],
      permissions: { env: ["PLUGBOX_T6_GRANTED"] },
    });
    assert.equal(plugin.plan.env.PLUGBOX_T6_GRANTED, "yes");
    assert.equal(plugin.plan.env.PLUGBOX_T6_OTHER, undefined);
    assert.ok(plugin.plan.args.includes("--allow-env=PLUGBOX_T6_GRANTED"));
  });
});

// T7: storage without permission

async function storageAttempt(cache: string, isolation: string, run = false): Promise<string> {
  await using plugin = await startPlugin(hostile("t7_web_storage.ts"), {
    contracts: [Probe],
    isolation: isolation as "auto",
    cacheDir: cache,
    // A run grant's start has a writable Deno dir of its own, where a file blocks the storage.
    ...(run
      ? { permissions: { run: ["/bin/true"] }, unsafe: { run: true }, manifest: "ignore" as const }
      : {}),
  });
  return await plugin.api(Probe).attempt();
}

const NOWHERE = /^localStorage: refused \(\w+\); caches: refused \(\w+\)$/;

for (const isolation of ISOLATIONS) {
  Deno.test(`T7 [${isolation}]: localStorage and the Cache API have nowhere to write, from a fresh cache on`, async () => {
    // A cache of its own: the seed is made for this start, not left by an earlier one.
    await using cache = await freshCache();
    for (let run = 0; run < 2; run++) {
      const outcome = await storageAttempt(cache.path, isolation);
      assert.match(outcome, NOWHERE, outcome);
    }
  });

  Deno.test(`T7 [${isolation}]: a run grant's own Deno dir has nowhere for storage either`, async () => {
    await using cache = await freshCache();
    for (let run = 0; run < 2; run++) {
      const outcome = await storageAttempt(cache.path, isolation, true);
      assert.match(outcome, NOWHERE, outcome);
    }
  });
}

Deno.test("T7 control: without plugbox storage persists across runs and is shared by the same module", async () => {
  await using denoDir = await tempDir();
  const env = { DENO_DIR: denoDir.path };
  const first = await plainRun(hostile("t7_web_storage.ts"), { config: true, env });
  assert.match(first.stderr, /localStorage: wrote \(found null\); caches: wrote 1 MiB/);
  const second = await plainRun(hostile("t7_web_storage.ts"), { config: true, env });
  assert.match(second.stderr, /localStorage: wrote \(found written\)/);
});

/** The one seed folder of the SDK's shared code cache in `cache`, and a fingerprint of it. */
async function seedOf(cache: string): Promise<{ dir: string; print: () => Promise<string> }> {
  const seeds = (await Array.fromAsync(Deno.readDir(join(cache, "sdk-seed"))))
    .filter((e) => e.isDirectory && !e.name.startsWith("."));
  assert.equal(seeds.length, 1);
  const dir = join(cache, "sdk-seed", seeds[0].name);
  const print = async () => {
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    const parts = await Promise.all(names.map((n) => Deno.readFile(join(dir, n))));
    const hash = createHash("sha256");
    names.forEach((name, i) => hash.update(name).update(parts[i]));
    return hash.digest("hex");
  };
  return { dir, print };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T7 [${isolation}]: a plugin cannot change the SDK's shared code cache that seeds new Deno dirs`, async () => {
    await using cache = await freshCache();
    const options = {
      isolation: isolation as "auto",
      cacheDir: cache.path,
      manifest: "ignore" as const,
    };
    await previewStart(hostile("t7_code_cache_poison.ts"), options); // builds the seed
    const seed = await seedOf(cache.path);
    const before = await seed.print();
    await assert.rejects(
      startPlugin(hostile("t7_code_cache_poison.ts"), {
        ...options,
        contracts: [Probe],
        permissions: { write: [seed.dir] },
        // So that only the seed's place (in the cache, code) can refuse it, not the host's root.
        unsafe: { writeAsRoot: true },
      }),
      /Cannot grant write .*sdk-seed/,
      "a write grant over the seed is refused",
    );
    await using plugin = await startPlugin(hostile("t7_code_cache_poison.ts"), {
      ...options,
      contracts: [Probe],
      permissions: { read: [join(cache.path, "sdk-seed")] },
    });
    const outcomes = await plugin.api(Probe).attempt();
    assert.match(outcomes, /overwrite: refused/);
    assert.doesNotMatch(outcomes, /: done/, outcomes);
    await plugin.close();
    assert.equal(await seed.print(), before);
    // A plugin started afterwards runs in the untouched seed.
    const next = await previewStart(hostile("t7_web_storage.ts"), { ...options, name: "next" });
    assert.equal(next.env.DENO_DIR, seed.dir);
  });
}

Deno.test("T7 control: without plugbox a plugin granted write changes a shared code cache", async () => {
  await using cache = await tempDir();
  const dir = join(cache.path, "sdk-seed", "key");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "v8_code_cache_v2"), new Uint8Array(16));
  const run = await plainRun(hostile("t7_code_cache_poison.ts"), {
    config: true,
    flags: ["--allow-read", "--allow-write"],
    args: [cache.path],
  });
  assert.match(run.stderr, /overwrite: done/, run.stderr);
  assert.match(run.stderr, /remove: done/, run.stderr);
});

/** Bytes in every file under `dir`, following no link. */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) total += await bytesUnder(path);
    else if (entry.isFile) total += (await Deno.lstat(path)).size;
  }
  return total;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T7 [${isolation}]: a plugin importing data: modules in a loop grows no cache on disk`, async () => {
    await using cache = await freshCache();
    const options = { isolation: isolation as "auto", cacheDir: cache.path };
    await using plugin = await startPlugin(hostile("t7_cache_growth.ts"), {
      ...options,
      contracts: [Probe],
    });
    const seed = await seedOf(cache.path);
    assert.equal(plugin.plan.env.DENO_DIR, seed.dir, "it runs in the read-only seed");
    const before = { bytes: await bytesUnder(cache.path), seed: await seed.print() };
    assert.equal(await plugin.api(Probe).attempt("300"), "imported 300", "its imports work");
    await plugin.close();
    const grown = await bytesUnder(cache.path) - before.bytes;
    // 300 modules of 20 KiB: Deno's caches would hold some 12 MB of them (the control below).
    assert.ok(grown < 64 * 1024, `the cache grew ${grown} bytes`);
    assert.equal(await seed.print(), before.seed);
  });
}

Deno.test("T7 control: without plugbox the same imports grow the Deno dir by megabytes", async () => {
  await using denoDir = await tempDir();
  const run = await plainRun(hostile("t7_cache_growth.ts"), {
    config: true,
    env: { DENO_DIR: denoDir.path },
    args: ["300"],
  });
  assert.match(run.stderr, /imported 300/, run.stderr);
  const grown = await bytesUnder(denoDir.path);
  assert.ok(grown > 4 * 1024 * 1024, `grew ${grown} bytes`);
});

// T12: the plugin has no controlling terminal and its own session

for (const isolation of ISOLATIONS) {
  Deno.test(`T12 [${isolation}]: the plugin runs in its own session, without a controlling terminal`, async () => {
    await using plugin = await startPlugin(hostile("t12_controlling_terminal.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const stat = procStat(pluginDenoPid(plugin.plan.nonce));
    const [, , , session, ttyNr] = stat;
    assert.notEqual(session, procStat(Deno.pid)[3], "not in the host's session");
    assert.equal(ttyNr, "0", "no controlling terminal");
  });

  Deno.test(`T12 [${isolation}]: a host at a terminal does not lend it to a plugin, even with every permission`, async () => {
    const host = new Deno.Command("script", {
      args: [
        "-qec",
        `${Deno.execPath()} run -A ${
          new URL("../fixtures/tty_host.ts", import.meta.url).pathname
        } ${isolation}`,
        "/dev/null",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const out = new TextDecoder().decode((await host.output()).stdout);
    // No controlling terminal (ENXIO); under Landlock, /dev is not even readable (EACCES).
    const refusal = isolation === "landlock"
      ? /plugin says: refused: .*Permission denied/
      : /plugin says: refused: .*(No such device or address|os error 6)/;
    assert.match(out, refusal, out);
  });
}

Deno.test("T12 control: without plugbox a plugin at the host's terminal opens it", async () => {
  const script = new Deno.Command("script", {
    args: [
      "-qec",
      `${Deno.execPath()} run -A ${hostile("t12_controlling_terminal.ts")}`,
      "/dev/null",
    ],
    stdin: "null",
    stdout: "piped",
  });
  assert.match(
    new TextDecoder().decode((await script.output()).stdout),
    /opened the host's terminal/,
  );
});

// T13: only ever `deno run`

for (const isolation of ISOLATIONS) {
  Deno.test(`T13 [${isolation}]: a plugin with a deno serve handler opens no listener`, async () => {
    await using plugin = await startPlugin(hostile("t13_deno_serve.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    assert.equal(await plugin.api(Probe).attempt(), "serving the protocol only");
    assert.equal(
      plugin.plan.args[plugin.plan.args.indexOf("run") - 1],
      Deno.realPathSync(Deno.execPath()),
    );
    assert.equal(isListening(pluginDenoPid(plugin.plan.nonce)), false);
  });
}

Deno.test("T13 control: `deno serve` opens a listener with no permission flags", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--no-prompt",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      `--port=${port}`,
      hostile("t13_deno_serve.ts"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("Listening")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    reader.releaseLock();
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await response.text(), "pwned");
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel().catch(() => {});
  }
});
