// Review 133 (the reach of T29 under the Deno layer): plugbox's sealing key, `lock.key` in the
// cache, was one line of 64 hex digits, and a plugin granted nothing read it whole through a source
// map (review 131's read, any file the host's user may read, a line of up to 150 bytes at a time).
// With the key a plugin granted write over a lock could seal an entry approving itself, or another
// plugin, with every grant: the seal is what refuses a lock edited outside `plug approve`. The key
// now shares its line with a note that keeps it over 150 bytes, a line Deno never quotes; a key
// file of the old form is rewritten so on its next use, with the same key.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startPlugin } from "../../mod.ts";
import { lockKey } from "../../runner/sandbox/lock_file.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun } from "./_hostile.ts";
import { fileURLToPath } from "node:url";

/** What the T29 plugin reads of the cache's key file, in each realm, after a locked start. */
async function keyRead(
  isolation: "deno" | "os" | "landlock",
  plant?: string,
  locked = true,
): Promise<{ outcome: string; key: string; file: string }> {
  await using cache = await freshCache();
  const dir = await Deno.makeTempDir({ prefix: "plugbox-r133-" });
  try {
    const file = join(cache.path, "lock.key");
    // A key of the old form, as an earlier plugbox left it.
    if (plant) await Deno.writeTextFile(file, `${plant}\n`, { mode: 0o600 });
    await using plugin = await startPlugin(hostile("t29_source_map_lines.ts"), {
      contracts: [Probe],
      isolation,
      cacheDir: cache.path,
      // The host approves with a lock: plugbox's key is made (or read) in the cache.
      lock: locked
        ? { path: join(dir, "plugbox.lock"), policy: "ask", ask: () => true }
        : undefined,
    });
    const outcome = await plugin.api(Probe).attempt(file);
    return { outcome, key: lockKey(cache.path), file: await Deno.readTextFile(file) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T29 [${isolation}]: a plugin granted nothing reads no line of plugbox's sealing key through a source map`, async () => {
    const { outcome, key, file } = await keyRead(isolation);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.ok(!outcome.includes(key.slice(0, 16)), outcome);
    // Each realm asked: the attack ran, and its answer was no line.
    assert.equal(outcome.match(/line null/g)?.length, 3, outcome);
    assert.ok(file.split("\n")[0].length > 150, file);
  });
}

Deno.test("T29 [deno]: a key file of the old form keeps its key, on a line no plugin reads from its next start on", async () => {
  const old = "5a".repeat(32);
  const { outcome, key, file } = await keyRead("deno", old);
  assert.equal(key, old, "approvals sealed with it still hold");
  assert.ok(file.startsWith(old) && file.split("\n")[0].length > 150, file);
  assert.ok(!outcome.includes(old.slice(0, 16)), outcome);
  assert.equal(outcome.match(/line null/g)?.length, 3, outcome);
});

// A cache whose key file became the old form after this process opened it (an older plugbox beside
// it) is met by the lock's own read of the key, not by a start's once-a-process look.
Deno.test("T29 [deno]: the lock's own read of a key file of the old form puts it in the long form", async () => {
  await using cache = await freshCache();
  const old = "3d".repeat(32);
  const file = join(cache.path, "lock.key");
  await Deno.writeTextFile(file, `${old}\n`, { mode: 0o600 });
  assert.equal(lockKey(cache.path), old, "approvals sealed with it still hold");
  const text = await Deno.readTextFile(file);
  assert.ok(text.startsWith(old) && text.split("\n")[0].length > 150, text);
});

// Review 134: only a start with a lock (or plug approve) rewrote it, so a host starting plugins with
// no lock over a cache an older plugbox left kept the key on a line of its own.
Deno.test("T29 [deno]: a key file of the old form is made long by a start with no lock too", async () => {
  const old = "7e".repeat(32);
  const { outcome, key, file } = await keyRead("deno", old, false);
  assert.equal(key, old, "approvals sealed with it still hold");
  assert.ok(file.startsWith(old) && file.split("\n")[0].length > 150, file);
  assert.equal(outcome.match(/line null/g)?.length, 3, outcome);
});

Deno.test("T29 control: without plugbox, the same source map reads a key file of the old form whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plugbox-r133-" });
  try {
    const file = join(dir, "lock.key");
    const key = "c3".repeat(32);
    await Deno.writeTextFile(file, `${key}\n`, { mode: 0o600 });
    const run = await plainRun(hostile("t29_source_map_lines.ts"), {
      config: true,
      flags: ["--deny-read"],
      args: [file],
    });
    assert.equal(run.stderr.split(`line "${key}"`).length - 1, 3, run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Review 133: the same read aimed at the host's own process. Under the Deno layer the plugin's
// parent is the host (`Deno.ppid` needs no permission), and `/proc/<host>/environ` is a file the
// host's user may read: its variables joined by NUL bytes, so a value of several lines (a PEM key)
// gives each of its lines of up to 150 bytes, though plugbox passes no variable of the host's to
// the plugin (T6). A root host's plugin has no capabilities, so no access to a root process's
// `/proc` files; one not root reads them. Nothing plugbox can do (Deno 2.9.6 cannot make a process
// undumpable): documented in T29. The OS layer's PID namespace holds no host process; Landlock
// refuses the file.
const HOST = fileURLToPath(new URL("./_r133_host.ts", import.meta.url));
const PEM = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-PEM-LINE\n-----END PRIVATE KEY-----";

/** `_r133_host.ts` with a PEM key in its environment, as this user or (`nobody`) as 65534. */
async function hostEnvironRead(layer: string, nobody: boolean): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "plugbox-r133-home-" });
  try {
    const env: Record<string, string> = { PEM, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
    let prefix: string[] = [];
    if (nobody) {
      // The host's own Deno dir, its one npm package copied in (the registry is not asked).
      const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
      const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
      const zod = join(home, "deno_dir", "npm", "registry.npmjs.org");
      await Deno.mkdir(zod, { recursive: true });
      const copied = await new Deno.Command("cp", {
        args: ["-r", join(denoDir, "npm", "registry.npmjs.org", "zod"), zod],
      }).output();
      assert.ok(copied.success, new TextDecoder().decode(copied.stderr));
      const owned = await new Deno.Command("chown", { args: ["-R", "65534:65534", home] }).output();
      assert.ok(owned.success, new TextDecoder().decode(owned.stderr));
      Object.assign(env, { HOME: home, DENO_DIR: join(home, "deno_dir") });
      prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Deno.execPath()];
    }
    const args = ["run", "--cached-only", "-A", HOST, layer];
    const run = await new Deno.Command(prefix[0] ?? Deno.execPath(), {
      args: [...prefix.slice(1), ...args],
      clearEnv: nobody,
      env,
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(run.stdout).trim().split("\n").at(-1) ?? "";
    assert.ok(run.success, new TextDecoder().decode(run.stderr));
    const said = JSON.parse(out);
    assert.equal(said.layer, layer);
    return said.said;
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

const rootHere = Deno.uid() === 0;

for (const isolation of ISOLATIONS) {
  Deno.test(`T29 [${isolation}]: a host not root, with a PEM key in its environment: the plugin reads its lines through /proc/<host>/environ (documented under the Deno layer)`, async () => {
    const said = await hostEnvironRead(isolation, rootHere);
    if (isolation === "deno") {
      assert.ok(JSON.parse(said).includes("TOP-SECRET-PEM-LINE"), said);
      return;
    }
    assert.doesNotMatch(said, /TOP-SECRET/, said);
    assert.deepEqual(JSON.parse(said), [null, null, null, null]);
  });
}

if (rootHere) {
  Deno.test("T29: a root host's plugin, its capabilities dropped, reads nothing of the host's /proc files", async () => {
    const said = await hostEnvironRead("deno", false);
    assert.deepEqual(JSON.parse(said), [null, null, null, null], said);
  });
}
