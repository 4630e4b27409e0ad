// THREATS T3-T7, T12 and T13 at run time: attacks a plugin makes while it
// runs, after the graph check, and the hardened spawn that stops them. Each
// group also shows the attack working without plugbox.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
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

async function attempt(file: string, isolation: string, arg?: string): Promise<string> {
  await using plugin = await startPlugin(hostile(file), {
    contracts: [Probe],
    isolation: isolation as "auto",
    cacheDir,
  });
  return await plugin.api(Probe).attempt(arg);
}

// T3, T4 (and T6's proxy and registry variables): imports computed at run time

for (const isolation of ISOLATIONS) {
  Deno.test(`T3 [${isolation}]: a remote import computed at run time is refused and never fetched`, async () => {
    await using proxy = recordingServer();
    const url = `http://127.0.0.1:${proxy.port}`;
    await withHostEnv({ HTTPS_PROXY: url, HTTP_PROXY: url, ALL_PROXY: url }, async () => {
      const outcome = await attempt("t3_computed_remote_import.ts", isolation);
      assert.match(outcome, /^refused: .*--no-remote/);
    });
    assert.deepEqual(proxy.requests, []);
  });
}

Deno.test("T3 control: without plugbox the computed remote import is fetched", async () => {
  await using proxy = recordingServer();
  const run = await plainRun(hostile("t3_computed_remote_import.ts"), {
    config: true,
    env: { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` },
    timeoutMs: 20_000,
  });
  assert.ok(proxy.requests.includes("CONNECT esm.sh:443 HTTP/1.1"), run.stderr);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T4 [${isolation}]: an npm: import computed at run time is refused and never downloaded`, async () => {
    await using registry = recordingServer();
    await withHostEnv({ NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.port}/` }, async () => {
      assert.match(await attempt("t4_computed_npm_import.ts", isolation), /^refused: .*--no-npm/);
    });
    assert.deepEqual(registry.requests, []);
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

// T5: ~/.npmrc is read even with --no-config, so HOME is an empty folder of plugbox's

/** A HOME whose .npmrc points npm at `port`. */
async function npmrcHome(port: number): Promise<{ path: string } & AsyncDisposable> {
  const home = await tempDir();
  await Deno.writeTextFile(join(home.path, ".npmrc"), `registry=http://127.0.0.1:${port}/\n`);
  return home;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T5 [${isolation}]: the host's ~/.npmrc does not reach the plugin`, async () => {
    await using registry = recordingServer();
    await using home = await npmrcHome(registry.port);
    await withHostEnv({ HOME: home.path }, async () => {
      const outcome = await attempt("t4_computed_npm_import.ts", isolation);
      assert.match(outcome, /^refused/);
    });
    assert.deepEqual(registry.requests, []);
  });
}

Deno.test("T5 control: without plugbox ~/.npmrc redirects npm lookups, even with --no-config", async () => {
  await using registry = recordingServer();
  await using home = await npmrcHome(registry.port);
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
      const expected = ["DENO_DIR", "DENO_NO_UPDATE_CHECK", "HOME", "NO_COLOR", "PWD"];
      assert.deepEqual(Object.keys(plugin.plan.env).sort(), expected);
      const environ = Deno.readTextFileSync(`/proc/${pluginDenoPid(plugin.plan.nonce)}/environ`);
      const actual = Object.fromEntries(
        environ.split("\0").filter(Boolean).map((v) => v.split(/=(.*)/s)),
      );
      assert.deepEqual(actual, plugin.plan.env, "the process's environment is exactly the plan's");
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

for (const isolation of ISOLATIONS) {
  Deno.test(`T7 [${isolation}]: localStorage and the Cache API have nowhere to write`, async () => {
    for (let run = 0; run < 2; run++) {
      const outcome = await attempt("t7_web_storage.ts", isolation);
      assert.match(outcome, /^localStorage: refused \(\w+\); caches: refused \(\w+\)$/, outcome);
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
