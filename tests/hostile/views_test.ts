// THREATS T14 (a verdict reused outside the view it was made in, and what
// Deno loads beyond the checked graph) and T15 (two spellings of one path).
// Each group also shows the attack working without the mitigation.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { PluginHost, PreflightError, previewStart, startPlugin } from "../../mod.ts";
import { Calc } from "../fixtures/contracts.ts";
import { takeSnapshot } from "../../runner/sandbox/snapshot.ts";
import { planPlugin } from "../../runner/sandbox/plan.ts";
import { launchPlugin } from "../../runner/host/plugin.ts";
import { Probe } from "./plugins/probe.ts";
import { fixture, freshCache, rejected } from "../_helpers.ts";
import {
  hostile,
  ISOLATIONS,
  plainRun,
  plantSecrets,
  pluginFolder,
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

// T14: what Deno reads beyond the static imports, all listed by `deno info`

for (const isolation of ISOLATIONS) {
  Deno.test(`T14 [${isolation}]: a literal require() and a source map outside the folder are refused`, async () => {
    await plantSecrets();
    await using cache = await freshCache();
    const cases = [
      ["t14_require_outside_root.ts", "/tmp/plugbox-hostile/secret.json"],
      ["t14_source_map_outside_root.js", "/tmp/plugbox-hostile/map.json"],
    ] as const;
    for (const [file, specifier] of cases) {
      const error = await refusal(hostile(file), isolation, { cacheDir: cache.path });
      assert.equal(error.reason, "outside-root", file);
      assert.equal(error.specifier, specifier, file);
    }
  });
}

Deno.test("T14 control: without plugbox require() and a source map read files with no permission", async () => {
  await plantSecrets();
  const required = await plainRun(hostile("t14_require_outside_root.ts"));
  assert.match(required.stderr, /LEAK: \{"password":"TOP-SECRET-JSON"\}/);
  const mapped = await plainRun(hostile("t14_source_map_outside_root.js"));
  assert.match(mapped.stderr, /LEAK: Error: .*\n.*TOP-SECRET-SOURCE/);
});

/** A plugin folder whose entry imports data.js through /tmp/plugbox-hostile/t14-alias. */
async function aliasedPlugin() {
  const folder = await pluginFolder({
    "main.ts": await Deno.readTextFile(hostile("t14_linked_spelling.ts")),
    "data.js": 'export default "harmless data of the plugin\'s own";\n',
  });
  const alias = join(SECRET_DIR, "t14-alias");
  const point = async (target: string) => {
    await Deno.remove(alias).catch(() => {});
    await Deno.symlink(target, alias);
  };
  return { folder, alias, point };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T14 [${isolation}]: an import spelled outside the folder is refused even when its link points in`, async () => {
    await plantSecrets();
    await Deno.writeTextFile(
      join(SECRET_DIR, "config", "data.js"),
      'export default "TOP-SECRET-TEXT via alias";\n',
    );
    await using cache = await freshCache();
    const { folder, alias, point } = await aliasedPlugin();
    await using _ = folder;
    const main = join(folder.dir, "main.ts");
    // At check time the alias leads into the plugin's own snapshot, so its real path is inside.
    const snapshot = await takeSnapshot(folder.dir, main, { plugin: "t14", cacheDir: cache.path });
    await point(snapshot.dir);
    const error = await refusal(main, isolation, { cacheDir: cache.path });
    assert.equal(error.reason, "outside-root");
    assert.equal(error.specifier, "file:///tmp/plugbox-hostile/t14-alias/data.js");
    assert.match(error.message, /leaves the plugin's folder \("\/tmp\/plugbox-hostile\/t14-alias/);
    await Deno.remove(alias);
  });
}

Deno.test("T14 control: a check by real path alone passes the alias, and the run reads what it points to later", async () => {
  await plantSecrets();
  await Deno.writeTextFile(
    join(SECRET_DIR, "config", "data.js"),
    'export default "TOP-SECRET-TEXT via alias";\n',
  );
  await using cache = await freshCache();
  const { folder, alias, point } = await aliasedPlugin();
  await using _ = folder;
  const main = join(folder.dir, "main.ts");
  const snapshot = await takeSnapshot(folder.dir, main, { plugin: "t14", cacheDir: cache.path });
  await point(snapshot.dir);
  // What `deno info` shows at check time: a module whose real path is in the snapshot.
  const info = await plainRun(snapshot.entry, { subcommand: "info", flags: ["--json"] });
  const module = JSON.parse(info.stdout).modules.find((m: { specifier: string }) =>
    m.specifier.endsWith("t14-alias/data.js")
  );
  assert.ok(
    Deno.realPathSync(module.local).startsWith(`${snapshot.dir}/`),
    "a real-path-only check would pass it",
  );
  // Later, or in another view, the same spelling names another file.
  await point(join(SECRET_DIR, "config"));
  const run = await plainRun(snapshot.entry);
  assert.match(run.stderr, /LEAK: TOP-SECRET-TEXT via alias/);
  await Deno.remove(alias);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T14 [${isolation}]: computed imports, require, Workers and fetch reach only granted paths`, async () => {
    await plantSecrets();
    await using granted = await tempDir();
    for (const name of ["secret.js", "secret.txt", "secret.json", "worker.js"]) {
      await Deno.copyFile(join(SECRET_DIR, name), join(granted.path, name));
    }
    await using plugin = await startPlugin(hostile("t14_computed_loading.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { read: [granted.path] },
    });
    const probe = plugin.api(Probe);
    const denied = await probe.attempt(SECRET_DIR);
    assert.doesNotMatch(denied, /read/, denied);
    assert.equal(denied.match(/refused/g)?.length, 5, denied);
    const allowed = await probe.attempt(granted.path);
    assert.equal(allowed.match(/: read /g)?.length, 5, allowed);
    assert.match(allowed, /TOP-SECRET-WORKER/);
  });
}

Deno.test("T14 control: without a read grant's bounds the same constructs read any file", async () => {
  await plantSecrets();
  const run = await plainRun(hostile("t14_computed_loading.ts"), {
    config: true,
    flags: ["--allow-read"],
    args: [SECRET_DIR],
  });
  assert.equal(run.stderr.match(/: read /g)?.length, 5, run.stderr);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T14 [${isolation}]: a verdict is not reused in another view`, async () => {
    await using cache = await freshCache();
    const other = isolation === "deno" ? "os" : "deno";
    const first = await previewStart(hostile("t7_web_storage.ts"), {
      isolation: isolation as "auto",
      cacheDir: cache.path,
    });
    const again = await previewStart(hostile("t7_web_storage.ts"), {
      isolation: isolation as "auto",
      cacheDir: cache.path,
    });
    assert.equal(again.graph.view, first.graph.view, "the same view reuses its verdict");
    const elsewhere = await previewStart(hostile("t7_web_storage.ts"), {
      isolation: other,
      cacheDir: cache.path,
    });
    const granted = await previewStart(hostile("t7_web_storage.ts"), {
      isolation: isolation as "auto",
      cacheDir: cache.path,
      permissions: { read: [SECRET_DIR] },
    });
    assert.notEqual(elsewhere.graph.view, first.graph.view, "another layer is another view");
    if (first.isolation !== "deno") {
      // Under the OS layer a grant is a mount, under Landlock a rule: the check sees the files
      // the run will see.
      assert.notEqual(granted.graph.view, first.graph.view, "other mounts are another view");
    } else {
      // Under the Deno layer the check sees the whole file system either way.
      assert.equal(granted.graph.view, first.graph.view);
    }
    const views = new Set([first.graph.view, elsewhere.graph.view, granted.graph.view]);
    const verified = await Array.fromAsync(Deno.readDir(join(cache.path, "verified")));
    assert.equal(verified.length, views.size, "one verdict per view, each from its own check");
  });
}

// T15: two spellings of one path

/** A host installed through a symlink: <base>/app -> <base>/real-app. */
async function symlinkedInstall() {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-" }));
  await Deno.mkdir(join(base, "real-app"));
  await Deno.symlink(join(base, "real-app"), join(base, "app"));
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const plugin = hostile("t15_rewrites_host.ts");
  await Deno.writeTextFile(
    join(base, "real-app", "host.ts"),
    `import { previewStart } from "${mod}";\n` +
      `console.log("host started");\n` +
      `try {\n` +
      `  await previewStart(${JSON.stringify(plugin)}, {\n` +
      `    isolation: Deno.args[0] as "auto",\n` +
      `    permissions: { write: [${JSON.stringify(join(base, "real-app"))}] },\n` +
      `    unsafe: { writeAsRoot: true },\n` +
      `  });\n` +
      `  console.log("write grant over the host's own folder: granted");\n` +
      `} catch (error) {\n` +
      `  console.log(\`write grant over the host's own folder: \${(error as Error).message}\`);\n` +
      `}\n`,
  );
  return {
    base,
    host: join(base, "app", "host.ts"),
    [Symbol.asyncDispose]: () => Deno.remove(base, { recursive: true }),
  };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T15 [${isolation}]: a host run through a symlink cannot grant a plugin write over its own folder`, async () => {
    await using install = await symlinkedInstall();
    const run = await plainRun(install.host, { config: true, flags: ["-A"], args: [isolation] });
    assert.match(run.stdout, /host started/, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(
        `write grant over the host's own folder: Cannot grant write "${install.base}/real-app": it overlaps "${install.base}/real-app", which holds code`,
      ),
      run.stdout + run.stderr,
    );
  });
}

/**
 * A folder the plugin may write, holding `in`, which the host grants it to read; `aim()` does
 * what the plugin can do there between two starts (see t15_aims_grant.ts).
 */
async function aimedGrant(isolation: string, cache: string) {
  const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-aim-" }));
  await Deno.mkdir(join(work, "in"));
  await Deno.writeTextFile(join(work, "in", "note.txt"), "granted note");
  const start = (read: string) =>
    startPlugin(hostile("t15_aims_grant.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      cacheDir: cache,
      permissions: { write: [work], read: [read] },
      unsafe: { writeAsRoot: true },
    });
  const aim = async () => {
    await Deno.remove(join(work, "in"), { recursive: true });
    await Deno.symlink(SECRET_DIR, join(work, "in"));
  };
  return { work, start, aim, [Symbol.asyncDispose]: () => Deno.remove(work, { recursive: true }) };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T15 [${isolation}]: a link put in the plugin's write grant does not aim the host's read grant`, async () => {
    await plantSecrets();
    await using cache = await freshCache();
    await using aimed = await aimedGrant(isolation, cache.path);
    {
      await using plugin = await aimed.start(join(aimed.work, "in"));
      const note = join(aimed.work, "in", "note.txt");
      assert.equal(await plugin.api(Probe).attempt(note), "granted note");
    }
    await aimed.aim();
    const error = await rejected(aimed.start(join(aimed.work, "in")));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(
      error.message,
      /^Cannot grant read ".*\/in": it leads through the link ".*\/in" inside the write grant/,
    );
  });
}

// Another plugin of the host may write the folder a grant lies in: it could swap the grant for a
// link while this plugin starts (review 44).
Deno.test("T15: a grant inside a folder another plugin of the host may write is refused", async () => {
  await using cache = await freshCache();
  const shared = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-shared-" }));
  try {
    await Deno.mkdir(join(shared, "in"));
    await using host = new PluginHost();
    await host.start("writer", hostile("t15_aims_grant.ts"), {
      contracts: [Probe],
      isolation: "deno",
      cacheDir: cache.path,
      permissions: { write: [shared] },
      unsafe: { writeAsRoot: true },
    });
    const start = (read: string) =>
      host.start(`reader-${crypto.randomUUID().slice(0, 8)}`, fixture("calc.ts"), {
        contracts: [Calc],
        isolation: "deno",
        cacheDir: cache.path,
        permissions: { read: [read] },
      });
    const error = await rejected(start(join(shared, "in")));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /it lies inside ".*", which a plugin was given to write/);
    await start(shared); // the folder itself is not the writer's to swap
  } finally {
    await Deno.remove(shared, { recursive: true });
  }
});

Deno.test("T15 [deno]: no folder a plugin that can make links may write overlaps a Deno-layer plugin's grant, whichever starts first", async () => {
  // Deno checks a path before it follows the links in it, and finds none at the start: a command
  // plugin planted one later, and a Deno-layer reader read the host's secret through it (review 60).
  await using cache = await freshCache();
  const outer = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-links-" }));
  const shared = join(outer, "shared");
  const later = join(outer, "later");
  await Deno.mkdir(shared);
  await Deno.mkdir(join(later, "w"), { recursive: true });
  const pyProbe = hostile("py_probe/main.py");
  try {
    await using host = new PluginHost({ handleSignals: false });
    const linker = (write: string) =>
      host.start(`linker-${crypto.randomUUID().slice(0, 8)}`, pyProbe, {
        contracts: [Probe],
        isolation: "os",
        cacheDir: cache.path,
        permissions: { write: [write] },
        unsafe: { writeAsRoot: true },
      });
    const reader = (read: string, isolation: "deno" | "os" = "deno") =>
      host.start(`reader-${crypto.randomUUID().slice(0, 8)}`, hostile("t15_aims_grant.ts"), {
        contracts: [Probe],
        isolation,
        cacheDir: cache.path,
        permissions: { read: [read] },
      });
    await linker(shared);
    for (const read of [shared, outer]) {
      const error = await rejected(reader(read));
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /it overlaps ".*shared", which a plugin that can make links/);
    }
    await reader(shared, "os"); // bubblewrap mounts what the link leads to: nothing
    await reader(later);
    const error = await rejected(linker(join(later, "w")));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /given in this process to a plugin under isolation "deno"/);
  } finally {
    await Deno.remove(outer, { recursive: true });
  }
});

Deno.test("T15 [deno]: two starts planned at once are judged again as each launches: the later one is refused", async () => {
  // Each plan passed its check before the other was launched (review 61).
  await using cache = await freshCache();
  const shared = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-race-" }));
  try {
    const reader = await planPlugin(hostile("t15_aims_grant.ts"), {
      isolation: "deno",
      cacheDir: cache.path,
      permissions: { read: [shared] },
    });
    const linker = await planPlugin(hostile("py_probe/main.py"), {
      isolation: "os",
      cacheDir: cache.path,
      permissions: { write: [shared] },
      unsafe: { writeAsRoot: true },
    });
    await using _linker = await launchPlugin(linker, { contracts: [Probe] });
    const error = await rejected(launchPlugin(reader, { contracts: [Probe] }));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /it overlaps ".*", which a plugin that can make links/);
  } finally {
    await Deno.remove(shared, { recursive: true });
  }
});

Deno.test("T15 [deno]: a plugin that can make links is not refused its own restart by its own earlier launch", async () => {
  // Its write grant was recorded both as a link-maker's and as a Deno-layer grant (review 62).
  await using cache = await freshCache();
  const own = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t15-own-" }));
  try {
    await using host = new PluginHost({ handleSignals: false });
    const managed = await host.start("runner", hostile("t15_aims_grant.ts"), {
      contracts: [Probe],
      isolation: "deno",
      cacheDir: cache.path,
      permissions: { write: [own], run: ["/bin/true"] },
      unsafe: { writeAsRoot: true, run: true },
    });
    const first = managed.current!.plan.nonce;
    await managed.restart();
    assert.equal(managed.state, "running");
    assert.notEqual(managed.current!.plan.nonce, first);
    assert.equal(typeof await managed.api(Probe).attempt(join(own, "absent")), "string");
  } finally {
    await Deno.remove(own, { recursive: true });
  }
});

Deno.test("T15 control: the same spelling, resolved again without the check, grants the secrets", async () => {
  await plantSecrets();
  await using cache = await freshCache();
  await using aimed = await aimedGrant("os", cache.path);
  await aimed.aim();
  // What the spelling resolves to now: the folder a grant without the check would hand over.
  await using plugin = await aimed.start(await Deno.realPath(join(aimed.work, "in")));
  assert.deepEqual(plugin.plan.grants.read, [SECRET_DIR]);
  assert.equal(
    await plugin.api(Probe).attempt(join(SECRET_DIR, "secret.txt")),
    "TOP-SECRET-TEXT",
  );
});

Deno.test("T15 control: the host's own folder, as spelled, does not contain its real path, and a write there runs next time", async () => {
  await using install = await symlinkedInstall();
  const real = join(install.base, "real-app");
  assert.ok(!real.startsWith(dirname(install.host)), "a comparison by spelling misses it");
  // A plugin with that write grant rewrites the host's entry...
  const rewrite = await plainRun(hostile("t15_rewrites_host.ts"), {
    config: true,
    flags: [`--allow-write=${real}`],
    args: [join(real, "host.ts")],
  });
  assert.match(rewrite.stderr, /rewrote /);
  // ...and the next host start runs it, with every permission the host has.
  const next = await plainRun(install.host, { flags: ["-A"] });
  assert.match(next.stdout, /INJECTED CODE RAN WITH THE HOST'S PERMISSIONS/);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T15 [${isolation}]: a manifest request is compared and shown by the path it really covers`, async () => {
    await plantSecrets();
    await using cache = await freshCache();
    await Deno.mkdir(join(SECRET_DIR, "pub"), { recursive: true });
    await Deno.mkdir(join(SECRET_DIR, "data2"), { recursive: true });
    await Deno.mkdir(join(SECRET_DIR, "data"), { recursive: true });
    const written = `${SECRET_DIR}/pub/../../../etc`;
    await using folder = await pluginFolder({
      "main.ts": "export {};\n",
      "plugbox.json": JSON.stringify({
        permissions: {
          read: [
            { value: written, reason: "reads its public data" },
            { value: `${SECRET_DIR}/data`, reason: "reads its data" },
          ],
        },
      }),
    });
    const main = join(folder.dir, "main.ts");
    const plan = await previewStart(main, {
      isolation: isolation as "auto",
      cacheDir: cache.path,
      permissions: { read: ["/etc/hostname"] },
    });
    assert.deepEqual(plan.grants.read, ["/etc/hostname"]);
    const [etc] = plan.manifest.requests;
    assert.equal(etc.covers, "/etc", "the review shows what the request covers");
    assert.equal(etc.value, written);
    // A sibling that shares the prefix is not covered: /data does not request /data2.
    const sibling = await rejected<PreflightError>(previewStart(main, {
      isolation: isolation as "auto",
      cacheDir: cache.path,
      permissions: { read: [`${SECRET_DIR}/data2`] },
    }));
    assert.ok(sibling instanceof PreflightError, String(sibling));
    assert.match(sibling.message, /read "\/tmp\/plugbox-hostile\/data2" not requested/);
    assert.match(
      sibling.message,
      /read "\/etc" \(written "\/tmp\/plugbox-hostile\/pub\/\.\.\/\.\.\/\.\.\/etc"\)/,
    );
  });
}

Deno.test("T15 control: the written request means something else than it reads as", () => {
  const written = `${SECRET_DIR}/pub/../../../etc`;
  Deno.mkdirSync(join(SECRET_DIR, "pub"), { recursive: true });
  assert.equal(Deno.realPathSync(written), "/etc");
  assert.ok(
    `${SECRET_DIR}/data2`.startsWith(`${SECRET_DIR}/data`),
    "a string prefix covers a sibling",
  );
});
