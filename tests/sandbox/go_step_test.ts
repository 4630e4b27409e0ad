import assert from "node:assert/strict";
import { join } from "node:path";
import { killTree } from "../../runner/sandbox/kill_tree.ts";
import { PluginProcess } from "../../runner/host/process.ts";
import { closeCgroups, planPlugin } from "../../runner/sandbox/mod.ts";
import { hostBash } from "../../runner/sandbox/prologue.ts";
import { previewStart, startPlugin, TimeoutError } from "../../mod.ts";
import {
  GRANTABLE_ENV_NAME,
  identifierRuns,
  ownRuntimeFiles,
  runtimeNames,
} from "../../runner/sandbox/env_names.ts";
import { fixture, rejected, until, waitFor } from "../_helpers.ts";
import { pluginFolder } from "../hostile/_hostile.ts";
import { Bare } from "../fixtures/contracts.ts";

// Under the OS layer the sandbox runs the plugin only after the host's go (GO_STEP in
// layers.ts), sent once bubblewrap's death signals are armed: a host killed before then must
// leave nothing that runs. Here the plugin's first statement says so on stderr.

const RAN = "plugbox-go-test: the plugin ran";

async function sayingPlugin() {
  const folder = await pluginFolder({
    "main.ts": `console.error(${JSON.stringify(RAN)});\n` +
      `await new Promise(() => setInterval(() => {}, 1000));\n`,
  });
  const plan = await planPlugin(join(folder.dir, "main.ts"), { isolation: "os" });
  return {
    plan,
    async [Symbol.asyncDispose]() {
      await closeCgroups(plan.cpu).catch(() => {});
      await folder[Symbol.asyncDispose]();
    },
  };
}

Deno.test("OS layer: a sandbox whose stdin ends before the host's go never runs the plugin", async () => {
  await using plugin = await sayingPlugin();
  const { plan } = plugin;
  assert.equal(plan.waitsForGo, true);
  const child = new Deno.Command(plan.command, {
    args: plan.args,
    env: plan.env,
    clearEnv: true,
    cwd: plan.cwd,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await child.stdin.close(); // what a host killed before its go leaves: the pipe's end
    const { code, stderr } = await waitFor(child.output(), "the sandbox to end");
    const said = new TextDecoder().decode(stderr);
    assert.ok(!said.includes(RAN), "the plugin ran without the go");
    assert.equal(code, 125, said);
  } finally {
    await killTree(child.pid, true);
  }
});

Deno.test("OS layer: the host's go, sent once the sandbox is armed, lets the plugin run", async () => {
  await using plugin = await sayingPlugin();
  let ran = false;
  const proc = new PluginProcess(plugin.plan, {
    sandboxed: true,
    onStderrLine: (line) => ran ||= line.includes(RAN),
  });
  try {
    await until(() => ran, 30_000, "the plugin to run");
  } finally {
    proc.kill();
    await waitFor(proc.status, "the plugin to end");
  }
});

Deno.test("OS layer: an env grant the sandbox's sh could read is refused, as one Deno could read", async () => {
  // The sandbox's first step is a shell, which reads the plugin's environment before the plugin
  // runs: a name its binary mentions (here one Deno does not) is refused under the OS layer.
  const sh = Deno.realPathSync("/bin/sh");
  // Nor the host's bash, which the prologue may run under every layer (review 121).
  const bash = hostBash();
  const deno = runtimeNames([Deno.execPath(), ...ownRuntimeFiles(), ...(bash ? [bash] : [])]);
  const name = identifierRuns(Deno.readFileSync(sh)).split("\n")
    .find((run) =>
      GRANTABLE_ENV_NAME.test(run) && !run.includes("PROXY") && !deno.mentionedBy(run)
    );
  assert.ok(name, `${sh} names nothing Deno does not`);
  const calc = fixture("calc.ts");
  const permissions = { env: [name] };
  const plan = await previewStart(calc, { isolation: "deno", permissions });
  assert.equal(plan.grants.env[name] ?? "", Deno.env.get(name) ?? "");
  const error = await rejected<TypeError>(previewStart(calc, { isolation: "os", permissions }));
  assert.ok(error instanceof TypeError, String(error));
  assert.ok(error.message.includes(`env "${name}"`), error.message);
  assert.ok(error.message.includes(`"${sh}" mentions it`), error.message);
  assert.match(error.message, /is a name the sandbox's sh may read itself/);
});

Deno.test("OS layer: a start that times out before its go says so, not that the plugin never served", async () => {
  const error = await rejected<TimeoutError>(
    startPlugin(fixture("bare_echo.ts"), { contracts: [Bare], isolation: "os", startTimeout: 1 }),
  );
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(error.message, /not ready in time: plugbox had not yet let the plugin run/);
  assert.doesNotMatch(error.message, /serve\(/);
});
