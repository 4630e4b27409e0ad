// Every code block in README.md is checked here, so none can drift: each
// carries a marker (`<!-- check: KIND ARGS -->`) saying how. The quick start
// is followed as a new user would, from a JSR-like registry, offline, in a
// fresh folder: install, write the files, type-check them, run the host with
// the narrowest permissions, call the plugin from the shell, vendor a
// package, run the Python plugin, and learn, then lock, the kv plugin.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalRegistry } from "./_registry.ts";
import { testDeadline } from "./_helpers.ts";
import { type LifeState, TRANSITIONS } from "../runner/host/lifecycle.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));
const README = Deno.readTextFileSync(join(repo, "README.md"));

interface Block {
  kind: string;
  args: string[];
  lang: string;
  code: string;
}

function blocks(): Block[] {
  const found: Block[] = [];
  const pattern = /<!-- check: ([^>]*?) -->\n\n```(\w*)[^\n]*\n([\s\S]*?)\n```/g;
  for (const m of README.matchAll(pattern)) {
    const [kind, ...args] = m[1].trim().split(/\s+/);
    found.push({ kind, args, lang: m[2], code: m[3] });
  }
  return found;
}

function only(kind: string, arg?: string): Block {
  const found = blocks().filter((b) => b.kind === kind && (arg === undefined || b.args[0] === arg));
  assert.equal(found.length, 1, `one README block marked "${kind} ${arg ?? ""}"`);
  return found[0];
}

const KINDS = [
  "tasks",
  "install",
  "compile",
  "run",
  "file",
  "plug",
  "vendor",
  "learn",
  "layout",
  "lifecycle",
];

Deno.test("every code block in README.md carries a check marker this test knows", () => {
  const fences = README.match(/^```/gm)?.length ?? 0;
  assert.equal(fences % 2, 0);
  const marked = blocks();
  assert.equal(marked.length, fences / 2, "a README code block has no <!-- check: ... --> marker");
  for (const block of marked) assert.ok(KINDS.includes(block.kind), block.kind);
  const learn = marked.filter((b) => b.kind === "learn").map((b) => b.args.join(" "));
  assert.deepEqual(learn.sort(), ["audit", "audit-output", "refused", "suggest"]);
});

Deno.test("README: the tasks it names exist, with the Deno version CI pins", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(join(repo, "deno.json"))).tasks;
  const code = only("tasks").code;
  for (const [, task] of code.matchAll(/deno task (\S+)/g)) assert.ok(task in tasks, task);
  const ci = /DENO_VERSION=(\S+)/.exec(Deno.readTextFileSync(join(repo, ".ci/run")))![1];
  for (const [, version] of code.matchAll(/npx deno@(\S+)/g)) assert.equal(version, ci);
});

Deno.test("README: the lifecycle diagram and table name the states and transitions of lifecycle.ts", () => {
  const diagram = only("lifecycle").code;
  const states = Object.keys(TRANSITIONS) as LifeState[];
  for (const state of states) assert.match(diagram, new RegExp(`\\b${state}\\b`), state);
  // The table under the diagram: | `state` | event | `next` (or `a` or `b`) | does |
  const table = README.slice(README.indexOf(diagram)).split("\n\n").find((p) =>
    p.startsWith("| state")
  );
  assert.ok(table, "a state table follows the diagram");
  const rows = table.split("\n").slice(2).map((line) => line.split("|").map((c) => c.trim()));
  const named = (cell: string) => [...cell.matchAll(/`([a-z]+)`/g)].map((m) => m[1]);
  for (const [, from, , to] of rows) {
    for (const name of [...named(to), ...(from.startsWith("any") ? [] : named(from))]) {
      assert.ok(states.includes(name as LifeState), `"${name}" in the README's table is a state`);
    }
    if (from.startsWith("any")) continue;
    const [state] = named(from) as LifeState[];
    const reachable = new Set(Object.values(TRANSITIONS[state]).map((step) => step!.to));
    for (const target of named(to)) {
      assert.ok(reachable.has(target as LifeState), `${state} -> ${target} is a transition`);
    }
  }
  for (const state of states.filter((s) => s !== "stopped")) {
    assert.ok(rows.some((r) => named(r[1]).includes(state) || r[1].startsWith("any")), state);
  }
});

Deno.test("README: the layout names files and folders that exist", () => {
  const code = only("layout").code;
  const names = [...code.matchAll(/(?:^|\s)([\w.]+(?:\.ts|\.md|\/))(?=\s|$)/gm)].map((m) => m[1]);
  assert.ok(names.length > 10, names.join(" "));
  const paths: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name === ".git") continue;
      const path = `${rel}${entry.name}${entry.isDirectory ? "/" : ""}`;
      paths.push(path);
      if (entry.isDirectory) walk(join(dir, entry.name), path);
    }
  };
  walk(repo, "");
  for (const name of names) {
    assert.ok(
      paths.some((p) => p === name || p.endsWith(`/${name}`)),
      `${name} in the README's layout exists`,
    );
  }
});

Deno.test("README: the compile block builds host.ts and names the Deno binary plugins run with", () => {
  // Running it needs denort (see tests/compile_check.ts); here its words are checked.
  const code = only("compile").code;
  assert.match(code, /^deno compile .*--output my-host host\.ts$/m);
  assert.match(code, /^PLUGBOX_DENO="\$\(command -v deno\)" \.\/my-host$/m);
});

async function sh(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
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

/** The lines a block's comments say it prints: `// hello, a` after a console.log. */
function expectedOutput(code: string): string[] {
  return [...code.matchAll(/console\.log\(.*\/\/ (.+)$/gm)].map((m) => m[1]);
}

/** esbuild, which `deno bundle` downloads from npm on first use, copied into a fresh Deno dir. */
async function withEsbuild(denoDir: string): Promise<void> {
  const info = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
        .output()).stdout,
    ),
  );
  const dl = join(info.denoDir, "dl");
  const has = () => [...Deno.readDirSync(dl)].find((e) => e.name.startsWith("esbuild-"));
  if (!has()) {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(join(dir, "x.ts"), "export const x = 1;\n");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--output", join(dir, "x.js"), join(dir, "x.ts")],
    }).output();
    await Deno.remove(dir, { recursive: true });
    assert.ok(out.success, "deno bundle fetched esbuild from npm");
  }
  await Deno.mkdir(join(denoDir, "dl"), { recursive: true });
  await new Deno.Command("cp", { args: ["-r", join(dl, has()!.name), join(denoDir, "dl")] })
    .output();
}

// A stand-in for left-pad 1.3.0 with its real interface, served by the local npm registry.
const LEFT_PAD = {
  "package.json": JSON.stringify({ name: "left-pad", version: "1.3.0", main: "index.js" }),
  "index.js": `"use strict";
module.exports = leftPad;
function leftPad(str, len, ch) {
  str = String(str);
  ch = ch === undefined ? " " : String(ch);
  while (str.length < len) str = ch + str;
  return str;
}
`,
};

Deno.test("README: the quick start works as written, from a JSR-like registry, offline", async (t) => {
  // Every step of the quick start, each a few processes: some 20 s on a quiet machine.
  testDeadline(300_000);
  await using registry = await LocalRegistry.start();
  const zod =
    JSON.parse(Deno.readTextFileSync(join(repo, "deno.lock"))).specifiers["npm:zod@^4.1.0"];
  await registry.addNpmFromCache("zod", zod);
  await registry.addNpmFromFiles("left-pad", "1.3.0", LEFT_PAD);
  await registry.publishRepo();
  const project = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-readme-" }));
  const home = join(project, ".home");
  await Deno.mkdir(home);
  const env = { ...registry.env(join(project, ".deno")), HOME: home };
  const plugCli = "deno run -A --no-config jsr:@plugbox/plugbox/cli";
  try {
    await t.step("install", async () => {
      const out = await sh(only("install").code, project, env);
      assert.equal(out.code, 0, out.stderr);
      const imports = JSON.parse(await Deno.readTextFile(join(project, "deno.json"))).imports;
      assert.match(imports["@plugbox/plugbox"], /^jsr:@plugbox\/plugbox@/);
      assert.match(imports.zod, /^npm:zod@/);
    });

    await t.step("the files type-check against the package", async () => {
      for (const block of blocks().filter((b) => b.kind === "file")) {
        const path = join(project, block.args[0]);
        await Deno.mkdir(dirname(path), { recursive: true });
        if (block.args[0] !== "greeter/pad.ts") await Deno.writeTextFile(path, `${block.code}\n`);
      }
      await Deno.copyFile(
        join(repo, "plugins/python-hello/main.py"),
        join(project, "python-hello/main.py"),
      );
      await Deno.mkdir(join(project, "plugins/kv"), { recursive: true });
      for (const file of ["main.ts", "contract.ts", "plugbox.json"]) {
        await Deno.copyFile(join(repo, "plugins/kv", file), join(project, "plugins/kv", file));
      }
      await Deno.mkdir(join(project, "data"));
      await Deno.writeTextFile(join(project, "data/hi.txt"), "hi\nsecond line\n");
      const check = await sh(
        "deno check host.ts lifecycle.ts greeter/main.ts learn.ts plugins/kv/main.ts " +
          "weather/main.ts weather_host.ts",
        project,
        env,
      );
      assert.equal(check.code, 0, check.stderr);
    });

    await t.step(
      "the host runs with the narrowest permissions and prints what its comments say",
      async () => {
        const out = await sh(only("run", "host.ts").code, project, env);
        assert.equal(out.code, 0, out.stderr);
        assert.deepEqual(
          out.stdout.trimEnd().split("\n"),
          expectedOutput(only("file", "host.ts").code),
        );
      },
    );

    await t.step(
      "the two-way example runs: a capability with a secret, progress, a stream",
      async () => {
        const command = only("run", "host.ts").code.replace(
          / host\.ts$/,
          " --allow-net=127.0.0.1 weather_host.ts",
        );
        const out = await sh(command, project, env);
        assert.equal(out.code, 0, out.stderr);
        assert.deepEqual(
          out.stdout.trimEnd().split("\n"),
          expectedOutput(only("file", "weather_host.ts").code),
        );
      },
    );

    await t.step("the lifecycle example runs", async () => {
      const out = await sh("deno run -A lifecycle.ts", project, env);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(
        out.stdout.trimEnd().split("\n"),
        expectedOutput(only("file", "lifecycle.ts").code),
      );
    });

    await t.step("each plug line does what its comment says", async () => {
      for (const line of only("plug").code.split("\n")) {
        const [command, comment = ""] = line.split(/\s+#\s+/);
        const out = await sh(command.replace("deno task plug", plugCli), project, env);
        const exit = /exit (\d+)/.exec(comment);
        if (exit) {
          assert.equal(out.code, Number(exit[1]), `${line}\n${out.stderr}`);
          assert.match(out.stderr, new RegExp(`^${comment.split(",")[0]}: `), line);
        } else {
          assert.equal(out.code, 0, `${line}\n${out.stderr}`);
          if (comment.startsWith('"')) assert.equal(out.stdout, `${comment}\n`, line);
        }
      }
    });

    await t.step("vendoring an npm package into the plugin's folder", async () => {
      await withEsbuild(join(project, ".deno"));
      const out = await sh(only("vendor").code, project, env);
      assert.equal(out.code, 0, out.stderr);
      await Deno.writeTextFile(
        join(project, "greeter/pad.ts"),
        `${only("file", "greeter/pad.ts").code}\n`,
      );
      const check = await sh("deno check greeter/pad.ts", project, env);
      assert.equal(check.code, 0, check.stderr);
      const preflight = await sh(`${plugCli} check greeter/pad.ts`, project, env);
      assert.equal(preflight.code, 0, preflight.stdout + preflight.stderr);
      const used = await sh(
        `deno eval 'const { padded } = await import("./greeter/pad.ts"); console.log(JSON.stringify(padded("ab")))'`,
        project,
        env,
      );
      assert.equal(used.stdout, '"      ab"\n', used.stderr);
    });

    await t.step("the Python plugin runs from its plugbox.json", async () => {
      const out = await sh(
        `${plugCli} call python-hello/main.py greeter.sayHello '"c"'`,
        project,
        env,
      );
      assert.equal(out.stdout, '"hello, c"\n', out.stderr);
    });

    await t.step(
      "learn, then lock: audit, suggest, approve, run locked, and from code",
      async () => {
        await learnThenLock(project, env, plugCli);
      },
    );
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", project] }).output();
    await Deno.remove(project, { recursive: true });
  }
});

/**
 * "Learn, then lock" on a copy of plugins/kv in the quick start's folder: the
 * audit prints what the README shows (its folder as /home/me/app), suggest
 * writes the narrowest manifest, the code example runs, approve writes the
 * lock, a code change that asks for no more starts, and one that asks for
 * more is refused with the README's words.
 */
async function learnThenLock(
  project: string,
  env: Record<string, string>,
  plugCli: string,
): Promise<void> {
  // Run as root (this suite is), a write grant needs the acknowledgement the README names there.
  const root = Deno.uid() === 0;
  const asRoot = (code: string) =>
    root ? code.replace(/(--allow-write=\S+)/g, "$1 --unsafe-write-as-root") : code;
  const cli = (code: string) => asRoot(code.replaceAll("deno task plug", plugCli));
  const audit = only("learn", "audit").code;
  const grants = /kv\.set '"a"' 1 (--allow-.*)$/m.exec(audit)![1];
  const script = `${audit}\n${only("learn", "suggest").code.replaceAll("[grants]", grants)}`;
  const run = await sh(cli(script), project, env);
  assert.equal(run.code, 0, run.stderr);
  // The folder's name is longer than /home/me/app: columns are compared as gaps.
  const shown = (text: string) => text.replaceAll(project, "/home/me/app").replace(/ {2,}/g, "  ");
  assert.equal(
    shown(run.stdout).replace(/isolation "deno"/, 'isolation "os"'),
    shown(`${only("learn", "audit-output").code}\n`),
  );
  const data = join(project, "data");
  const suggested = JSON.parse(await Deno.readTextFile(join(project, "plugbox.json")));
  const requested = (kind: string) =>
    suggested.permissions[kind].map((r: { value: string; reason: string }) => {
      assert.match(r.reason, /^TODO: /, "a placeholder reason, for the author to write");
      return r.value;
    });
  assert.deepEqual(Object.keys(suggested.permissions).sort(), ["env", "read", "write"]);
  assert.deepEqual(["env", "read", "write"].map(requested), [["KV_DIR"], [data], [data]]);

  if (root) {
    const learn = join(project, "learn.ts");
    const code = await Deno.readTextFile(learn);
    assert.ok(code.includes("  audit: true,\n"));
    await Deno.writeTextFile(
      learn,
      code.replace("  audit: true,\n", "  audit: true,\n  unsafe: { writeAsRoot: true },\n"),
    );
  }
  const fromCode = await sh("deno run -A learn.ts", project, env);
  assert.equal(fromCode.code, 0, fromCode.stderr);
  assert.match(fromCode.stderr, /^used write \/\S+\/a\.json$/m);
  assert.match(fromCode.stdout, /KV_DIR/);

  const approve = /`(deno task plug approve [^`]*)`/.exec(README)![1].replace("[grants]", grants);
  const kvEnv = { ...env, KV_DIR: data };
  const approved = await sh(cli(approve), project, kvEnv);
  assert.equal(approved.code, 0, approved.stderr);
  const locked = cli(`deno task plug call plugins/kv/main.ts kv.keys ${grants} --lock`);
  await Deno.writeTextFile(join(project, "plugins/kv/main.ts"), "// an update\n", { append: true });
  const same = await sh(locked, project, kvEnv);
  assert.equal(same.stdout, '["a"]\n', `code changed, asks for no more: starts\n${same.stderr}`);
  const manifest = join(project, "plugins/kv/plugbox.json");
  const shipped = JSON.parse(await Deno.readTextFile(manifest));
  shipped.permissions.net = [{ value: "*", reason: "an update that phones home" }];
  await Deno.writeTextFile(manifest, JSON.stringify(shipped));
  const more = await sh(locked, project, kvEnv);
  assert.equal(more.code, 7, more.stderr);
  assert.equal(shown(more.stderr.split("\n")[0]), only("learn", "refused").code);
}

Deno.test("PROTOCOL.md's walkthrough quotes plugins/python-hello exactly, and its host example runs", async () => {
  const protocol = Deno.readTextFileSync(join(repo, "PROTOCOL.md"));
  const section = protocol.slice(protocol.indexOf("## 9. Writing a plugin in another language"));
  const main = Deno.readTextFileSync(join(repo, "plugins/python-hello/main.py"));
  const fenced = (lang: string) =>
    [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)\\n```", "g"))].map((m) => m[1]);
  const python = fenced("python");
  assert.ok(python.length >= 5);
  for (const excerpt of python) assert.ok(main.includes(excerpt), `main.py holds:\n${excerpt}`);
  const [manifest] = fenced("json");
  assert.deepEqual(
    JSON.parse(manifest),
    JSON.parse(Deno.readTextFileSync(join(repo, "plugins/python-hello/plugbox.json"))),
  );
  for (const line of fenced("sh")[0].split("\n")) {
    const [command, comment] = line.split(/\s+#\s+/);
    const out = await sh(
      command.replace("deno task plug", `deno run -A ${join(repo, "cli.ts")}`),
      repo,
      Deno.env.toObject(),
    );
    assert.equal(out.code, 0, `${line}\n${out.stderr}`);
    if (comment.startsWith('"')) assert.equal(out.stdout, `${comment}\n`);
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.symlink(join(repo, "plugins"), join(dir, "plugins"));
    const host = fenced("ts ignore")[0];
    await Deno.writeTextFile(join(dir, "host.ts"), host);
    const run = await sh(
      `deno run -A --config ${join(repo, "deno.json")} host.ts`,
      dir,
      Deno.env.toObject(),
    );
    assert.equal(run.stdout, `${expectedOutput(host).join("\n")}\n`, run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
