// Every install path, as a user meets it (issue 13): from a JSR-like
// registry (the real `deno publish` uploads to it), from an https: package
// root, from a local path, in a folder without deno.json, with a fresh Deno
// cache, and no network beyond loopback. zod comes from a local npm registry.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalRegistry } from "./_registry.ts";
import { exists, testDeadline } from "./_helpers.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));
const VERSION: string = JSON.parse(Deno.readTextFileSync(join(repo, "deno.json"))).version;
const ZOD_VERSION: string = JSON.parse(Deno.readTextFileSync(join(repo, "deno.lock")))
  .specifiers["npm:zod@^4.1.0"];

/** A user's folder: a greeter plugin whose contract imports plugbox as `contractFrom`. */
async function userFolder(imports: { contract: string; plugin: string }): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-user-" }));
  await Deno.mkdir(join(dir, "greeter"));
  await Deno.writeTextFile(
    join(dir, "greeter/contract.ts"),
    `import { z } from "npm:zod@^4";
import { defineContract } from "${imports.contract}";

export const Greeter = defineContract({
  name: "greeter",
  version: 1,
  methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
});
`,
  );
  await Deno.writeTextFile(
    join(dir, "greeter/main.ts"),
    `import { implement, serve } from "${imports.plugin}";
import { Greeter } from "./contract.ts";

await serve(implement(Greeter, { sayHello: (name) => \`hello, \${name}\` }));
`,
  );
  await Deno.mkdir(join(dir, "python-hello"));
  for (const file of ["main.py", "plugbox.json"]) {
    await Deno.copyFile(join(repo, "plugins/python-hello", file), join(dir, "python-hello", file));
  }
  return dir;
}

/** A host that says when its modules are loaded, then starts the greeter and calls it. */
function hostScript(mod: string): string {
  return `import { startPlugin } from "${mod}";
import { Greeter } from "./greeter/contract.ts";

console.log(\`loaded \${Date.now()}\`);
await using plugin = await startPlugin("./greeter/main.ts", { contracts: [Greeter] });
console.log(await plugin.api(Greeter).sayHello("a"));
`;
}

async function deno(args: string[], cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** A fresh Deno cache and plugbox cache, in a folder with no deno.json above it. */
function freshEnv(registry: LocalRegistry, work: string): Record<string, string> {
  for (let dir = work; dir !== "/"; dir = join(dir, "..")) {
    assert.ok(
      !["deno.json", "deno.jsonc", "package.json"].some((f) => exists(join(dir, f))),
      `no config file above ${work}`,
    );
  }
  return { ...registry.env(join(work, ".deno")), PLUGBOX_CACHE_DIR: join(work, ".plugbox") };
}

/** Asserts the host's plugin start made no request: everything came with what the host loaded. */
function noRequestAfterLoad(registry: LocalRegistry, stdout: string): void {
  const loadedAt = Number(/^loaded (\d+)$/m.exec(stdout)?.[1]);
  assert.ok(loadedAt > 0, stdout);
  const late = registry.requests.filter((r) => r.at >= loadedAt).map((r) => r.path);
  assert.deepEqual(late, [], "the plugin start fetched nothing");
}

Deno.test("install: from a JSR-like registry, an https: root and a local path, offline, in a folder without deno.json", async (t) => {
  // Installs and runs a host three ways: some 10 s on a quiet machine.
  testDeadline(180_000);
  await using registry = await LocalRegistry.start();
  await registry.addNpmFromCache("zod", ZOD_VERSION);
  const key = `@plugbox/plugbox@${VERSION}`;
  const root = `${registry.url}@plugbox/plugbox/${VERSION}/`;

  await t.step("deno publish lays the package out as JSR serves it", async () => {
    await registry.publishRepo();
    const files = registry.published.get(key)!;
    assert.ok(files, `${key} was published`);
    for (const file of ["/mod.ts", "/plugin.ts", "/cli.ts", "/runner/sandbox/_sdk_bundle.ts"]) {
      assert.ok(files.has(file), file);
    }
    for (const path of files.keys()) {
      assert.doesNotMatch(path, /^\/(tests|bench|tools|plugins|\.ci|\.git)\b/, path);
    }
    const manifest = new TextDecoder().decode(files.get("/runner/sandbox/manifest.ts"));
    assert.match(manifest, /from "npm:zod@\^4\.1\.0"/, "zod is imported by its npm specifier");
  });

  await t.step("deno run jsr:@plugbox/plugbox/cli calls a plugin", async () => {
    const work = await userFolder({
      contract: "jsr:@plugbox/plugbox/contract",
      plugin: "jsr:@plugbox/plugbox/plugin",
    });
    try {
      const env = freshEnv(registry, work);
      const cli = ["run", "-A", "jsr:@plugbox/plugbox/cli", "call"];
      const call = await deno([...cli, "./greeter/main.ts", "greeter.sayHello", '"a"'], work, env);
      assert.equal(call.stdout, '"hello, a"\n', call.stderr);
      assert.ok(registry.requests.some((r) => r.path === `/npm/zod`), "zod came from npm");
      const python = await deno(
        [...cli, "./python-hello/main.py", "greeter.sayHello", '"b"'],
        work,
        env,
      );
      assert.equal(python.stdout, '"hello, b"\n', python.stderr);
    } finally {
      await removeTree(work);
    }
  });

  await t.step(
    "a host importing jsr:@plugbox/plugbox starts a plugin, and the start fetches nothing",
    async () => {
      const work = await userFolder({
        contract: `jsr:@plugbox/plugbox@^${VERSION}/contract`,
        plugin: "jsr:@plugbox/plugbox/plugin",
      });
      try {
        await Deno.writeTextFile(join(work, "host.ts"), hostScript("jsr:@plugbox/plugbox"));
        const env = freshEnv(registry, work);
        const host = await deno(["run", "-A", "host.ts"], work, env);
        assert.match(host.stdout, /\nhello, a\n$/, host.stderr);
        noRequestAfterLoad(registry, host.stdout);
      } finally {
        await removeTree(work);
      }
    },
  );

  await t.step(
    "a host importing plugbox from an https: root starts a plugin whose contract imports the same root",
    async () => {
      const work = await userFolder({ contract: `${root}contract.ts`, plugin: `${root}plugin.ts` });
      try {
        await Deno.writeTextFile(join(work, "host.ts"), hostScript(`${root}mod.ts`));
        const env = freshEnv(registry, work);
        const host = await deno(["run", "-A", "host.ts"], work, env);
        assert.match(host.stdout, /\nhello, a\n$/, host.stderr);
        noRequestAfterLoad(registry, host.stdout);
      } finally {
        await removeTree(work);
      }
    },
  );

  await t.step("a host importing plugbox by local path needs no config to map zod", async () => {
    const work = await userFolder({
      contract: join(repo, "contract.ts"),
      plugin: "@plugbox/plugbox/plugin",
    });
    try {
      await Deno.writeTextFile(join(work, "host.ts"), hostScript(join(repo, "mod.ts")));
      const env = freshEnv(registry, work);
      const host = await deno(["run", "-A", "host.ts"], work, env);
      assert.match(host.stdout, /\nhello, a\n$/, host.stderr);
    } finally {
      await removeTree(work);
    }
  });
});

/** Removes a user folder whose plugbox cache holds read-only snapshots. */
async function removeTree(dir: string): Promise<void> {
  await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
  await Deno.remove(dir, { recursive: true });
}
