// Review 81: what a host's options or a file given to the CLI controls before a start. Each bad
// value is refused by name, at once; none lifts a cap, blames the plugin, or holds the host.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LockError, PreflightError, previewStart, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { z } from "zod";
import { parseUntrusted } from "../../runner/untrusted_parse.ts";
import { fixture, rejected } from "../_helpers.ts";
import { hostile, plantSecrets, pluginFolder, SECRET_DIR } from "./_hostile.ts";

const BARE = await Deno.readTextFile(fixture("bare_echo.ts"));
const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const mod = fileURLToPath(new URL("../../mod.ts", import.meta.url));

/** Runs `args` as a Deno program; killed at the deadline, so a frozen one fails the test. */
async function run(args: string[], timeoutMs = 60_000) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      killed,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("snapshotLimits of NaN or below 1 are refused by name, not taken as no cap or as the plugin's fault", async () => {
  await using folder = await pluginFolder({ "main.ts": BARE });
  for (let i = 0; i < 30; i++) await Deno.writeTextFile(join(folder.dir, `f${i}.ts`), "");
  const main = join(folder.dir, "main.ts");
  // NaN compared false with every count: the folder's entry and file caps were gone.
  const lifted = await rejected<TypeError>(
    previewStart(main, { isolation: "deno", snapshotLimits: { maxEntries: NaN, maxFiles: NaN } }),
  );
  assert.ok(lifted instanceof TypeError, String(lifted));
  assert.match(lifted.message, /"snapshotLimits\.maxFiles" must be an integer from 1 to/);
  // A negative depth refused every folder, in the words of a plugin that nests too deep.
  const negative = await rejected<Error>(
    previewStart(main, { isolation: "deno", snapshotLimits: { maxDepth: -1 } }),
  );
  assert.ok(!(negative instanceof PreflightError), negative.message);
  assert.match(negative.message, /"snapshotLimits\.maxDepth" must be an integer from 0 to/);
  // An explicit undefined keeps the default; the other limits still hold.
  const kept = await rejected<PreflightError>(
    previewStart(main, {
      isolation: "deno",
      snapshotLimits: { maxFiles: 5, maxEntries: undefined },
    }),
  );
  assert.ok(kept instanceof PreflightError, String(kept));
  assert.match(kept.message, /holds more than 5 files/);
});

Deno.test("an empty cacheDir is refused by name; the cache did not land in the working directory", async () => {
  await using folder = await pluginFolder({ "main.ts": BARE });
  const cwd = await Deno.makeTempDir({ prefix: "r81-cwd-" });
  const before = Deno.cwd();
  Deno.chdir(cwd);
  try {
    const error = await rejected<TypeError>(
      previewStart(join(folder.dir, "main.ts"), { isolation: "deno", cacheDir: "" }),
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /"cacheDir" must be a non-empty path, got an empty string/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(cwd)), []);
  } finally {
    Deno.chdir(before);
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a root that is missing or a file is a TypeError naming the root", async () => {
  await using folder = await pluginFolder({ "main.ts": BARE });
  const main = join(folder.dir, "main.ts");
  const missing = await rejected<TypeError>(
    previewStart(main, { isolation: "deno", root: join(folder.dir, "nope") }),
  );
  assert.ok(missing instanceof TypeError, `${missing.name}: ${missing.message}`);
  assert.match(missing.message, /root ".*\/nope" does not exist/);
  const file = await rejected<TypeError>(previewStart(main, { isolation: "deno", root: main }));
  assert.ok(file instanceof TypeError, `${file.name}: ${file.message}`);
  assert.match(file.message, /root ".*\/main\.ts" must be a folder/);
});

Deno.test("a command option naming a FIFO or a folder is refused; the host's thread is not held", async () => {
  await using folder = await pluginFolder({ "main.py": "print(1)\n" });
  const fifo = join(folder.dir, "..", `${crypto.randomUUID()}.fifo`);
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success);
  try {
    const script = `import { previewStart } from ${JSON.stringify(mod)};
for (const program of ${JSON.stringify([fifo, "/usr"])}) {
  const error = await previewStart(${
      JSON.stringify(join(folder.dir, "main.py"))
    }, { command: [program, "main.py"], isolation: "os" }).then(() => undefined, (e) => e);
  console.log(error?.name, error?.message);
}`;
    // In a process of its own: a synchronous open of a FIFO holds every timer of its thread.
    const out = await run(["eval", "--quiet", script], 30_000);
    assert.ok(!out.killed, `frozen: ${out.stdout}${out.stderr}`);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines.length, 2, out.stdout + out.stderr);
    assert.match(lines[0], /^TypeError .*program ".*\.fifo" is not a regular file/);
    assert.match(lines[1], /^TypeError .*program "\/usr" is not a regular file/);
  } finally {
    await Deno.remove(fifo);
  }
});

Deno.test("plug suggest refuses a report of millions of empty objects by its structure, before parsing it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "r81-suggest-" });
  try {
    // 2^24 + 1 values in 50 MB, under the 256 MB byte cap: parsed, 1.7 GB of heap; at the cap,
    // 85 million of them ended the CLI out of memory after 2.5 minutes.
    const count = 2 ** 24;
    const path = join(dir, "audit.json");
    const file = await Deno.open(path, { write: true, createNew: true });
    const chunk = new TextEncoder().encode("{},".repeat(1 << 20));
    await file.write(new TextEncoder().encode("["));
    for (let i = 0; i < count / (1 << 20); i++) {
      let at = 0;
      while (at < chunk.length) at += await file.write(chunk.subarray(at));
    }
    await file.write(new TextEncoder().encode("{}]"));
    file.close();
    // A host of less memory shows the same crash sooner.
    const out = await run([
      "run",
      "-A",
      "--v8-flags=--max-old-space-size=256",
      cli,
      "suggest",
      path,
    ]);
    assert.ok(!out.killed, "frozen");
    assert.equal(out.code, 2, out.stderr.slice(-500));
    assert.match(
      out.stderr,
      /is not a plug audit --json report: it holds more than 16777216 values/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock of 450,000 bad requests is a LockError, not zod's stack overflow", async () => {
  await using folder = await pluginFolder({ "main.ts": BARE });
  const requests = Array.from({ length: 450_000 }, (_, i) => `"${i.toString(36)}":0`).join(",");
  const lock = join(folder.dir, "..", `${crypto.randomUUID()}.lock`);
  await Deno.writeTextFile(
    lock,
    `{"version":1,"plugins":{"p":{"root":"/","hash":"${
      "0".repeat(64)
    }","requests":{${requests}}}}}`,
  );
  try {
    const error = await rejected<LockError>(
      previewStart(join(folder.dir, "main.ts"), { isolation: "deno", lock: { path: lock } }),
    );
    assert.ok(error instanceof LockError, `${error.name}: ${error.message}`);
    // Since review 104 a lock's requests name a manifest's kinds only: no record of unknown keys
    // is left inside a record, and the first bad request is the one named.
    assert.match(error.message, /is malformed at plugins\.p\.requests\.\w+: Invalid input/);
  } finally {
    await Deno.remove(lock);
  }
});

Deno.test("a lock of 280,000 malformed entries is refused within a 384 MiB heap: checked up to its first problem", async () => {
  const entries = Array.from({ length: 280_000 }, (_, i) => `"p${i.toString(36)}":{}`).join(",");
  const lock = await Deno.makeTempFile({ suffix: ".lock" });
  await Deno.writeTextFile(lock, `{"version":1,"plugins":{${entries}}}`);
  const reader = new URL("../../runner/sandbox/lock_file.ts", import.meta.url).href;
  try {
    // Every issue of every entry (seven each, 2 million) took about 1.4 GB; the first of each
    // about 0.3 (review 81). In a process of its own, so a heap that runs out fails only it.
    const ran = await run([
      "eval",
      "--v8-flags=--max-old-space-size=384",
      `import { readLock } from ${JSON.stringify(reader)};
       try { readLock(${JSON.stringify(lock)}, "p"); } catch (error) { console.log(error.name); }`,
    ]);
    assert.equal(ran.stdout.trim(), "LockError", `exit ${ran.code}: ${ran.stderr.slice(-500)}`);
  } finally {
    await Deno.remove(lock);
  }
});

Deno.test("parseUntrusted() fails, not throws, for 600,000 bad members of a record inside an array", () => {
  const bad: Record<string, string> = {};
  for (let i = 0; i < 600_000; i++) bad[i.toString(36)] = "x";
  const checked = parseUntrusted(z.array(z.record(z.string(), z.number())), [bad]);
  assert.equal(checked.success, false);
  assert.match(checked.error!.issues[0].message, /more invalid members than can be checked/);
});

Deno.test("grant links [deno]: a dangling link in a write grant, which the plugin can make lead out, is refused", async () => {
  await plantSecrets();
  await using folder = await pluginFolder({});
  // Dangling now: "missing" does not exist. Made by the plugin (a write grant may mkdir), the
  // link leads to the host's secrets, and Deno checks the path before the link.
  const ups = "../".repeat(folder.dir.split("/").length + 1);
  await Deno.symlink(`${folder.dir}/missing/${ups}${SECRET_DIR.slice(1)}`, `${folder.dir}/l`);
  const started = await startPlugin(hostile("r81_completes_link.ts"), {
    contracts: [Probe],
    isolation: "deno",
    permissions: { read: [folder.dir], write: [folder.dir] },
    unsafe: { writeAsRoot: true },
  }).then(async (plugin) => {
    await using _ = plugin;
    return await plugin.api(Probe).attempt(
      `mkdir|${folder.dir}/missing|${folder.dir}/l/secret.txt`,
    );
  }, (error) => error);
  assert.ok(started instanceof PreflightError, `the plugin read: ${started}`);
  assert.equal(started.reason, "grant-link");
});

Deno.test('grant links [deno]: a link in a write grant relative with "../", which a move makes lead out, is refused', async () => {
  await plantSecrets();
  await using folder = await pluginFolder({});
  // Deep in the folder, "../" as many times as the folder is deep stays inside it. Moved to the
  // folder's top by the plugin (a write grant may rename), the same words lead out.
  const ups = "../".repeat(folder.dir.split("/").length - 1);
  await Deno.mkdir(join(folder.dir, "a/b"), { recursive: true });
  const deep = join(folder.dir, "a/b/c");
  await Deno.mkdir(deep);
  // Where it leads now exists: a link that resolves, inside the folder.
  await Deno.mkdir(join(folder.dir, "a", SECRET_DIR.slice(1)), { recursive: true });
  await Deno.symlink(`${ups}${SECRET_DIR.slice(1)}`, join(deep, "l"));
  const started = await startPlugin(hostile("r81_completes_link.ts"), {
    contracts: [Probe],
    isolation: "deno",
    permissions: { read: [folder.dir], write: [folder.dir] },
    unsafe: { writeAsRoot: true },
  }).then(async (plugin) => {
    await using _ = plugin;
    return await plugin.api(Probe).attempt(
      `move|${join(deep, "l")}|${folder.dir}/l/secret.txt`,
    );
  }, (error) => error);
  assert.ok(started instanceof PreflightError, `the plugin read: ${started}`);
  assert.equal(started.reason, "grant-link");
});

Deno.test("grant links [deno]: a folder a host not root cannot list, in a write grant, is refused: the plugin may chmod it", async () => {
  // As a host not root: root lists every folder. The plugin's user is the host's, so with the
  // write grant it may make the folder readable again and read through the link inside.
  const links = fileURLToPath(new URL("../../runner/sandbox/grant_links.ts", import.meta.url));
  const home = await Deno.makeTempDir({ prefix: "r81-unlisted-" });
  await Deno.chmod(home, 0o777);
  const script = `import { checkGrantLinks } from ${JSON.stringify(links)};
const g = Deno.makeTempDirSync({ dir: ${JSON.stringify(home)} });
Deno.mkdirSync(g + "/d");
Deno.symlinkSync("/etc", g + "/d/l");
Deno.chmodSync(g + "/d", 0o000);
const grants = { read: [g], write: [g], net: [], env: {}, sys: [], run: [], ffi: [], all: false };
try {
  checkGrantLinks("p", grants);
  console.log("accepted");
} catch (error) {
  console.log(error.name, error.reason, error.message);
}
Deno.chmodSync(g + "/d", 0o755);`;
  const asUser = Deno.uid() === 0
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    : [];
  try {
    const child = await new Deno.Command(asUser[0] ?? Deno.execPath(), {
      args: [...asUser.slice(1), ...(asUser.length ? [Deno.execPath()] : []), "eval", script],
      env: { DENO_DIR: join(home, "deno_dir"), HOME: home },
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(child.stdout);
    assert.ok(child.success, new TextDecoder().decode(child.stderr));
    assert.match(out, /^PreflightError grant-link .*which the host cannot list to check for links/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("parseUntrusted() fails, not throws, when its schema's own code throws a value with no text", () => {
  // A refinement of the host's that throws what String() cannot show, or an Error whose message
  // getter throws: the check fails naming neither, and keeps what was thrown (review 145's path).
  const nothing = Object.create(null);
  const unreadable = new Error("x");
  Object.defineProperty(unreadable, "message", {
    get: () => {
      throw nothing;
    },
  });
  for (const thrown of [nothing, unreadable]) {
    const schema = z.string().refine(() => {
      throw thrown;
    });
    const checked = parseUntrusted(schema, "a");
    assert.equal(checked.success, false);
    assert.equal(checked.threw, thrown);
    assert.match(checked.error!.issues[0].message, /own check threw: a value with no text/);
  }
});
