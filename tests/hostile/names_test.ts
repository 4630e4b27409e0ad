// THREATS T16-T19: allow-lists against a runtime that keeps growing. The
// variables Deno reads itself, sys names that act, names the machine
// resolves to itself, and APIs that need no permission at all. Each group
// also shows the attack working without plugbox.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startPlugin } from "../../mod.ts";
import { refuseEnvName, runtimeNames } from "../../runner/sandbox/env_names.ts";
import { privateAddressOf } from "../../runner/sandbox/net.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import { hostile, ISOLATIONS, niceOf, plainRun, recordingServer, tempDir } from "./_hostile.ts";

function refusedGrant(promise: Promise<unknown>, message: RegExp) {
  return assert.rejects(promise, (e: unknown) => e instanceof TypeError && message.test(e.message));
}

// T16: variables the runtime reads itself

for (const isolation of ISOLATIONS) {
  Deno.test(`T16 [${isolation}]: a variable Deno reads itself cannot be granted, whatever its prefix`, async () => {
    await using telemetry = recordingServer();
    const start = (env: Record<string, string>) =>
      startPlugin(hostile("t16_runtime_env.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        permissions: { env },
      });
    await refusedGrant(
      start({
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${telemetry.port}`,
      }),
      /Cannot grant env "OTEL_DENO": it is a name Deno may read itself: ".*deno" mentions it/,
    );
    for (const name of ["SOCKET_API_KEY", "ACTIONS_ID_TOKEN_REQUEST_URL", "DENO_WEBGPU_TRACE"]) {
      await refusedGrant(start({ [name]: "x" }), /is a name Deno may read itself/);
    }
    // A name of the application's own passes, and reaches the plugin.
    await using plugin = await start({ PLUGBOX_T16_SETTING: "given" });
    assert.equal(plugin.plan.env.PLUGBOX_T16_SETTING, "given");
    assert.equal(await plugin.api(Probe).attempt(), "logged");
    assert.deepEqual(telemetry.requests, []);
  });
}

Deno.test("T16 control: without plugbox, OTEL variables make Deno itself send the plugin's logs out", async () => {
  await using telemetry = recordingServer();
  await plainRun(hostile("t16_runtime_env.ts"), {
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${telemetry.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    },
  });
  assert.ok(
    telemetry.requests.includes("POST /v1/logs HTTP/1.1"),
    JSON.stringify(telemetry.requests),
  );
});

Deno.test("T16: a variable a newer Deno reads is refused as soon as that Deno is the one used", async () => {
  // A stand-in for a Deno release that reads a variable plugbox has never heard of.
  await using dir = await tempDir();
  const today = join(dir.path, "deno-today");
  const tomorrow = join(dir.path, "deno-tomorrow");
  await Deno.writeTextFile(today, "DENO_DIR\0HOME\0");
  await Deno.writeTextFile(tomorrow, "DENO_DIR\0HOME\0PLUGBOX_FUTURE_SETTING\0");
  assert.equal(refuseEnvName("PLUGBOX_FUTURE_SETTING", runtimeNames([today])), undefined);
  assert.match(
    refuseEnvName("PLUGBOX_FUTURE_SETTING", runtimeNames([tomorrow]))!,
    /is a name Deno may read itself/,
  );
});

// T17: sys names that act on other processes

/** A process standing in for the host's other work, at nice 0. */
function bystander(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T17 [${isolation}]: setPriority needs unsafe.sysActions, and under the OS layer reaches nothing outside`, async () => {
    const other = bystander();
    try {
      await refusedGrant(
        startPlugin(hostile("t17_renice.ts"), {
          contracts: [Probe],
          isolation: isolation as "auto",
          permissions: { sys: ["setPriority"] },
        }),
        /Cannot grant sys "setPriority": it acts on other processes .*pass unsafe\.sysActions/,
      );
      await using plugin = await startPlugin(hostile("t17_renice.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        permissions: { sys: ["setPriority", "hostname"] },
        unsafe: { sysActions: true },
      });
      const probe = plugin.api(Probe);
      // Raising another process's priority needs CAP_SYS_NICE: no plugin holds it.
      assert.match(await probe.attempt(`${other.pid} -5`), /^refused: /);
      const lowered = await probe.attempt(`${other.pid} 19`);
      if (plugin.isolation === "os") {
        // Its own PID namespace: the host's processes have no number it could name.
        assert.match(lowered, /^refused: /, lowered);
        assert.equal(niceOf(other.pid), 0, "the bystander's priority is untouched");
      } else {
        // Documented (README, What is not promised): acknowledged, a plugin may lower the
        // priority of the host user's other processes where the kernel lets an owner do so.
        assert.equal(niceOf(other.pid), lowered.startsWith("reniced") ? 19 : 0, lowered);
      }
      assert.notEqual(niceOf(other.pid), -5);
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
  });
}

Deno.test("T17 control: without plugbox a setPriority grant renices another process, even upwards", async () => {
  const other = bystander();
  try {
    const run = await plainRun(hostile("t17_renice.ts"), {
      config: true,
      flags: ["--allow-sys=setPriority"],
      args: [String(other.pid), "-5"],
    });
    assert.match(run.stderr, new RegExp(`reniced ${other.pid} to -5`));
    assert.equal(niceOf(other.pid), -5, "raised above the host's own priority");
  } finally {
    other.kill("SIGKILL");
    await other.status;
  }
});

// T18: names the machine resolves to itself

/** Names in /etc/hosts that lead to this machine but are not spelled like it. */
function hostsAliases(): string[] {
  const aliases: string[] = [];
  for (const line of Deno.readTextFileSync("/etc/hosts").split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (!address || !/^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$)/.test(address)) {
      continue;
    }
    aliases.push(...names.filter((n) => !/localhost|\.local$|\.internal$/i.test(n)));
  }
  return aliases;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T18 [${isolation}]: a name the hosts file gives a loopback or private address needs privateNetwork`, async () => {
    const aliases = hostsAliases();
    assert.ok(aliases.length > 0, "this machine's /etc/hosts names itself besides localhost");
    await using service = recordingServer();
    for (const alias of aliases) {
      await refusedGrant(
        startPlugin(hostile("t18_local_alias.ts"), {
          contracts: [Probe],
          isolation: isolation as "auto",
          permissions: { net: [`${alias}:${service.port}`] },
        }),
        new RegExp(
          `Cannot grant net "${alias.toLowerCase()}:${service.port}": this machine resolves it to [\\d.:a-f]+, a loopback, private or local address`,
        ),
      );
    }
    assert.deepEqual(service.requests, []);
  });
}

Deno.test("T18: the hosts file is read whatever the name, and *.internal counts as private by its spelling", async () => {
  await using dir = await tempDir();
  const hosts = join(dir.path, "hosts");
  await Deno.writeTextFile(
    hosts,
    "# a machine's own names\n127.0.0.1 billing-admin\n10.1.2.3 db.corp.example\n",
  );
  const options = { hostsFiles: [hosts], system: false };
  assert.equal(await privateAddressOf("billing-admin:8080", options), "127.0.0.1");
  assert.equal(await privateAddressOf("DB.corp.example.", options), "10.1.2.3");
  assert.equal(await privateAddressOf("example.com:443", options), undefined);
  await refusedGrant(
    startPlugin(hostile("t18_local_alias.ts"), {
      contracts: [Probe],
      permissions: { net: ["metadata.google.internal:80"] },
    }),
    /loopback, private or local address/,
  );
});

Deno.test("T18 control: without plugbox a hosts-file alias reaches the host's own service", async () => {
  const [alias] = hostsAliases();
  await using service = recordingServer();
  const run = await plainRun(hostile("t18_local_alias.ts"), {
    config: true,
    flags: [`--allow-net=${alias}:${service.port}`],
    args: [`http://${alias}:${service.port}/admin`],
  });
  assert.match(run.stderr, /fetched: ok/);
  assert.deepEqual(service.requests, ["GET /admin HTTP/1.1"]);
});

// T19: APIs that need no permission

for (const isolation of ISOLATIONS) {
  Deno.test(`T19 [${isolation}]: WebGPU finds no adapter in a plugin`, async () => {
    await using cache = await freshCache();
    await using plugin = await startPlugin(hostile("t19_webgpu.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      cacheDir: cache.path,
    });
    assert.equal(await plugin.api(Probe).attempt(), "no adapter");
  });
}

Deno.test("T19 control: without plugbox a plugin granted nothing gets a GPU adapter", async () => {
  const run = await plainRun(hostile("t19_webgpu.ts"), { config: true });
  assert.match(run.stderr, /got a GPU adapter/);
});
