// A start whose audit file goes to a folder of its own in the temporary folder (a grant
// covers plugbox's cache) and that never runs, stopped while planned or only previewed, removes
// that folder (review 66: each left one behind).
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { approvePlugin, previewStart } from "../../mod.ts";
import { startPlugin } from "../../runner/host/mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { freshCache, graphChecksIn, hangingCheckPlugin, until, within } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);
const auditFolders = () =>
  [...Deno.readDirSync(tmpdir())].filter((e) => e.name.startsWith("plugbox-audit-")).map((e) =>
    e.name
  );

Deno.test("audit: a start stopped during its module-graph check removes its audit folder in the temporary folder", async () => {
  await using cache = await freshCache();
  await using plugin = await hangingCheckPlugin();
  const before = new Set(auditFolders());
  const stop = new AbortController();
  const outcome = previewStart(plugin.main, {
    isolation: "deno",
    cacheDir: cache.path,
    preflightTimeout: 600_000,
    signal: stop.signal,
    audit: true,
    // A read grant over the cache's audit folder: the audit file goes to a folder of its own.
    permissions: { read: [plugin.read, await auditGrant(cache.path)] },
    manifest: "ignore",
  }).then(() => "planned", (error) => error);
  try {
    await until(() => graphChecksIn(cache.path).length > 0, 20_000, "the module-graph check");
    stop.abort(new DOMException("stopped", "AbortError"));
    await within(outcome, 5_000, "the planning to end at the abort");
    const left = auditFolders().filter((n) => !before.has(n));
    for (const name of left) await Deno.remove(`${tmpdir()}/${name}`, { recursive: true });
    assert.deepEqual(left, [], "no audit folder is left by a start that never ran");
  } finally {
    for (const { pid } of graphChecksIn(cache.path)) Deno.kill(pid, "SIGKILL");
    await outcome;
  }
});

/**
 * A read grant over the cache's audit folder, which moves the audit file out of the cache: one
 * over the whole cache covers the sealing key, refused without a lock of its own key (review 92).
 */
async function auditGrant(cache: string): Promise<string> {
  await Deno.mkdir(join(cache, "audit"), { recursive: true });
  return join(cache, "audit");
}

Deno.test("audit: a preview with its audit file in the temporary folder removes the folder", async () => {
  await using cache = await freshCache();
  const audit = await auditGrant(cache.path);
  const before = new Set(auditFolders());
  await previewStart(HELLO, {
    isolation: "deno",
    cacheDir: cache.path,
    audit: true,
    permissions: { read: [audit] },
    manifest: "ignore",
  });
  const left = auditFolders().filter((n) => !before.has(n));
  for (const name of left) await Deno.remove(`${tmpdir()}/${name}`, { recursive: true });
  assert.deepEqual(left, [], "no audit folder is left by a preview");
});

// A plan that is issued and then never runs releases all it holds in one place
// (releaseUnlaunchedPlan): a start refused in the plugin's constructor, before its audit file is
// opened, and an approval released only its own Deno dir, and left the audit's folder.
Deno.test("audit: a start refused before its process is spawned removes its audit folder in the temporary folder", async () => {
  await using cache = await freshCache();
  const audit = await auditGrant(cache.path);
  const before = new Set(auditFolders());
  await assert.rejects(
    startPlugin(
      HELLO,
      {
        isolation: "deno",
        cacheDir: cache.path,
        audit: true,
        permissions: { read: [audit] },
        manifest: "ignore",
        contracts: [Greeter],
        // A capability of a contract no one shares: refused before the audit file is opened.
        capabilities: [{ contract: { name: "other", methods: {} }, implementation: {} }],
      } as unknown as Parameters<typeof startPlugin>[1],
    ),
    TypeError,
  );
  const left = auditFolders().filter((n) => !before.has(n));
  for (const name of left) await Deno.remove(`${tmpdir()}/${name}`, { recursive: true });
  assert.deepEqual(left, [], "no audit folder is left by a start refused before it ran");
});

Deno.test("audit: an approval with its audit file in the temporary folder removes the folder", async () => {
  await using cache = await freshCache();
  const before = new Set(auditFolders());
  await approvePlugin(HELLO, {
    isolation: "deno",
    cacheDir: cache.path,
    audit: true,
    permissions: { read: [cache.path] },
    manifest: "ignore",
    lock: { path: join(cache.path, "plugbox.lock"), key: "a key of its own" },
    dryRun: true,
  });
  const left = auditFolders().filter((n) => !before.has(n));
  for (const name of left) await Deno.remove(`${tmpdir()}/${name}`, { recursive: true });
  assert.deepEqual(left, [], "no audit folder is left by an approval");
});
