// Review 92: the state plugins and hosts share through plugbox's cache. A cache folder another user
// may change (theirs, or writable by others) let that user put their own code in place of a
// plugin's checked snapshot, which every later start ran with the plugin's grants and approval; a
// start without a lock, granted a folder holding the cache, read the key that seals approvals.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { approvePlugin, previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { rejected } from "../_helpers.ts";
import { hostile, ISOLATIONS } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const HELLO = new URL("../../plugins/hello/", import.meta.url);

/** The hello plugin in a fresh folder, with a cache and a lock beside it. */
async function workspace(manifest?: unknown) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r92-" }));
  const plugin = join(dir, "hello");
  await Deno.mkdir(plugin);
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(new URL(file, HELLO), join(plugin, file));
  }
  if (manifest) await Deno.writeTextFile(join(plugin, "plugbox.json"), JSON.stringify(manifest));
  return {
    dir,
    main: join(plugin, "main.ts"),
    cacheDir: join(dir, "cache"),
    lock: join(dir, "plugbox.lock"),
    [Symbol.asyncDispose]: async () => {
      await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * What another user who may change the cache does: the plugin's checked snapshot (its name is
 * the hash of the plugin's folder, known to anyone who has the plugin) replaced by their own code.
 */
async function replaceSnapshot(snapshotDir: string): Promise<void> {
  await Deno.rename(snapshotDir, `${snapshotDir}.gone`);
  await Deno.mkdir(snapshotDir);
  await Deno.copyFile(join(`${snapshotDir}.gone`, "contract.ts"), join(snapshotDir, "contract.ts"));
  await Deno.writeTextFile(
    join(snapshotDir, "main.ts"),
    `import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";
await serve(implement(Greeter, { sayHello: () => "POISONED", readGreeting: () => "POISONED" }));
`,
  );
}

/** A start of the workspace's plugin under `isolation`: its answer, or why it was refused. */
async function greeting(space: { main: string; cacheDir: string }, isolation: string) {
  try {
    await using plugin = await startPlugin(space.main, {
      contracts: [Greeter],
      cacheDir: space.cacheDir,
      isolation: isolation as "deno",
    });
    return await plugin.api(Greeter).sayHello("you");
  } catch (error) {
    return `refused: ${error}`;
  }
}

for (const isolation of ISOLATIONS) {
  Deno.test(`R92 [${isolation}]: a cache folder others may write is refused, not trusted`, async () => {
    await using space = await workspace();
    const { snapshot } = await previewStart(space.main, { cacheDir: space.cacheDir, isolation });
    assert.equal(await greeting(space, isolation), "hello, you");
    // World-writable, as a cache made under /tmp or shared "for everyone" is: anyone may do this.
    await Deno.chmod(space.cacheDir, 0o777);
    await replaceSnapshot(snapshot.dir);
    const seen = await greeting(space, isolation);
    assert.match(seen, /^refused: TypeError: .*cache .*writable by other users/, seen);
  });
}

Deno.test("R92: a cache folder in a folder others may rename things in is refused", async () => {
  await using space = await workspace();
  await previewStart(space.main, { cacheDir: space.cacheDir, isolation: "deno" });
  // Not sticky: another user may move the cache aside and put one of their own in its place.
  await Deno.chmod(space.dir, 0o777);
  const seen = await greeting(space, "deno");
  assert.match(seen, /^refused: TypeError: .*writable by other users/, seen);
  // Sticky, as /tmp is: no one moves what is not theirs.
  await Deno.chmod(space.dir, 0o1777);
  assert.equal(await greeting(space, "deno"), "hello, you");
});

Deno.test("R92: a cache folder another user owns is refused, not trusted", async () => {
  // Only root can give a folder away; a host not root meets this case as another user's cache.
  if (Deno.uid() !== 0) return;
  await using space = await workspace();
  const { snapshot } = await previewStart(space.main, { cacheDir: space.cacheDir });
  // The cache another user made first (PLUGBOX_CACHE_DIR in /tmp, or a HOME kept through sudo).
  await replaceSnapshot(snapshot.dir);
  const chown = await new Deno.Command("chown", { args: ["-R", "65534:65534", space.cacheDir] })
    .output();
  assert.ok(chown.success);
  // Readable by all, as its owner may leave it: the host's plugins, without root's powers, load it.
  await new Deno.Command("chmod", { args: ["-R", "a+rX", space.cacheDir] }).output();
  const seen = await greeting(space, "os");
  assert.match(seen, /^refused: TypeError: .*cache .*owned by uid 65534/, seen);
});

// A start without a lock is still a start of a plugin on a host whose approvals the key seals.
for (const isolation of ISOLATIONS) {
  Deno.test(`R92 [${isolation}]: a plugin started without a lock cannot read the key that seals approvals`, async () => {
    const reads = [{ value: "*", reason: "reads what it is given" }];
    await using space = await workspace({ permissions: { read: reads } });
    // The host approves plugins with a lock: plugbox's key is made in the cache.
    await approvePlugin(space.main, {
      cacheDir: space.cacheDir,
      isolation,
      lock: { path: space.lock },
    });
    const key = (await Deno.readTextFile(join(space.cacheDir, "lock.key"))).trim();
    let seen: string;
    try {
      await using plugin = await startPlugin(space.main, {
        contracts: [Greeter],
        cacheDir: space.cacheDir,
        isolation,
        // A folder holding the cache: the project's, or the home folder holding ~/.cache.
        permissions: { read: [space.dir] },
      });
      seen = await plugin.api(Greeter).readGreeting(join(space.cacheDir, "lock.key"));
    } catch (error) {
      seen = `refused: ${error}`;
    }
    assert.notEqual(seen, key, "the plugin read the sealing key");
    assert.match(seen, /^refused: TypeError: .*covers plugbox's sealing key/, seen);
  });
}

// The key is made at the first locked start, maybe by another host while this plugin runs.
Deno.test("R92: a grant over the cache's sealing key is refused before the key is made", async () => {
  const reads = [{ value: "*", reason: "reads what it is given" }];
  await using space = await workspace({ permissions: { read: reads } });
  const error = await rejected<TypeError>(previewStart(space.main, {
    cacheDir: space.cacheDir,
    isolation: "deno",
    permissions: { read: [space.dir] },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /covers plugbox's sealing key/);
});

const PY = fileURLToPath(new URL("./plugins/r82_py/main.py", import.meta.url));

/** A loopback HTTP server that answers every request with `text`. */
function server(text: string) {
  const it = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(text),
  );
  return { port: it.addr.port, [Symbol.asyncDispose]: () => it.shutdown() };
}

/** Python that asks every egress socket in `egress` for `url`, as a plain HTTP proxy request. */
function throughOthers(egress: string, url: string): string {
  return [
    "import os, socket",
    `egress = ${JSON.stringify(egress)}`,
    "seen = []",
    "for name in sorted(os.listdir(egress)) if os.path.isdir(egress) else []:",
    "    path = os.path.join(egress, name, 's')",
    "    try:",
    "        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(5); s.connect(path)",
    `        s.sendall(b'GET ${url} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')`,
    "        data = b''",
    "        while True:",
    "            chunk = s.recv(4096)",
    "            if not chunk: break",
    "            data += chunk",
    "        seen.append(data.decode('latin-1').split('\\r\\n\\r\\n', 1)[-1])",
    "    except OSError as error:",
    "        seen.append('denied: ' + os.strerror(error.errno or 0))",
    "result = ' | '.join(seen) or 'no socket seen'",
  ].join("\n");
}

// Under the OS layer a plugin with a net grant reaches it through a Unix socket of plugbox's proxy
// in the cache; a plugin that may read the cache found another running plugin's and used its grant.
Deno.test("R92 [os]: a plugin cannot reach the network through another plugin's egress socket", async () => {
  await using space = await workspace();
  await using target = await server("ONLY-FOR-THE-GRANTED-PLUGIN");
  const url = `http://127.0.0.1:${target.port}/`;
  const cacheDir = space.cacheDir;
  // The plugin granted net, running.
  await using granted = await startPlugin(PY, {
    contracts: [Probe],
    cacheDir,
    isolation: "os",
    permissions: { net: [`127.0.0.1:${target.port}`] },
    unsafe: { privateNetwork: true },
  });
  const reached = await granted.api(Probe).attempt(
    [
      "import os, socket",
      "host, port = os.environ['HTTP_PROXY'].split('//')[1].rstrip('/').split(':')",
      "s = socket.create_connection((host, int(port)), 5)",
      `s.sendall(b'GET ${url} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')`,
      "data = b''",
      "while True:",
      "    chunk = s.recv(4096)",
      "    if not chunk: break",
      "    data += chunk",
      "result = data.decode('latin-1').split('\\r\\n\\r\\n', 1)[-1]",
    ].join("\n"),
  );
  assert.equal(reached, "ONLY-FOR-THE-GRANTED-PLUGIN", "the granted plugin reaches it");
  // Another plugin, granted another host only, that may read the cache (its lock has a key of its
  // own, so the sealing key's rule lets it).
  const lock = { path: space.lock, key: "a key of sixteen or more" };
  const options = {
    cacheDir,
    isolation: "os" as const,
    permissions: { read: [cacheDir], net: ["127.0.0.1:1"] },
    unsafe: { privateNetwork: true },
    lock,
  };
  let seen: string;
  try {
    await approvePlugin(PY, options);
    await using other = await startPlugin(PY, { contracts: [Probe], ...options });
    seen = await other.api(Probe).attempt(throughOthers(join(cacheDir, "egress"), url));
  } catch (error) {
    seen = `refused: ${error}`;
  }
  assert.doesNotMatch(seen, /ONLY-FOR-THE-GRANTED-PLUGIN/, "it reached the network through it");
});

// A host may use a cache of its own (cacheDir) while plugbox's default one (PLUGBOX_CACHE_DIR, or
// ~/.cache/plugbox) serves `plug` and every other host of this user: a write grant over the default
// let a plugin rewrite another plugin's snapshot there, which the next start from it ran.
for (const isolation of ISOLATIONS) {
  Deno.test(`R92 [${isolation}]: a write grant over plugbox's default cache is refused to a host using another`, async () => {
    await using space = await workspace();
    const shared = join(space.dir, "default-cache");
    const before = Deno.env.get("PLUGBOX_CACHE_DIR");
    Deno.env.set("PLUGBOX_CACHE_DIR", shared);
    try {
      // The victim, started from the default cache: its snapshot is there.
      const { snapshot } = await previewStart(space.main, { isolation });
      await using attacker = await workspace();
      let seen: string;
      try {
        await using plugin = await startPlugin(hostile("r92_rewrites_cache.ts"), {
          contracts: [Probe],
          cacheDir: attacker.cacheDir,
          isolation,
          permissions: { write: [shared] },
          unsafe: { writeAsRoot: true },
        });
        seen = await plugin.api(Probe).attempt(join(snapshot.dir, "main.ts"));
      } catch (error) {
        seen = `refused: ${error}`;
      }
      const victim = await greeting({ main: space.main, cacheDir: shared }, isolation);
      assert.equal(victim, "hello, you", `the other plugin's next start ran: ${victim} (${seen})`);
      assert.match(seen, /^refused: TypeError: .*overlaps .*which holds code/, seen);
    } finally {
      if (before === undefined) Deno.env.delete("PLUGBOX_CACHE_DIR");
      else Deno.env.set("PLUGBOX_CACHE_DIR", before);
    }
  });
}
