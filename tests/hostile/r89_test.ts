// Review 89: approval and the lock. A plugin whose name is an Object.prototype member is looked
// up in the lock as that member; an older sealed entry put back in the lock is taken as the
// approval it replaced.
import assert from "node:assert/strict";
import { join } from "node:path";
import { approvePlugin, LockError, previewStart } from "../../mod.ts";
import { rejected } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/", import.meta.url);

/** A copy of the hello plugin named `name` in a fresh folder, a lock and a cache beside it. */
async function workspace(name: string, manifest?: unknown) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r89-" }));
  const plugin = join(dir, name);
  await Deno.mkdir(plugin);
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(new URL(file, HELLO), join(plugin, file));
  }
  if (manifest) await Deno.writeTextFile(join(plugin, "plugbox.json"), JSON.stringify(manifest));
  return {
    main: join(plugin, "main.ts"),
    lock: join(dir, "plugbox.lock"),
    cacheDir: join(dir, "cache"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

for (const name of ["toString", "constructor", "hasOwnProperty"]) {
  Deno.test(`lock: a plugin named "${name}" is judged by its own entry, not Object.prototype's`, async () => {
    await using space = await workspace(name);
    const options = { cacheDir: space.cacheDir, isolation: "deno" as const };
    const never = await rejected<LockError>(
      previewStart(space.main, { ...options, lock: { path: space.lock } }),
    );
    assert.ok(never instanceof LockError, String(never));
    assert.equal(never.reason, "not-approved");
    // The same with a lock that holds no entry of that name.
    await Deno.writeTextFile(space.lock, JSON.stringify({ version: 1, plugins: {} }));
    const absent = await rejected<LockError>(
      previewStart(space.main, { ...options, lock: { path: space.lock } }),
    );
    assert.ok(absent instanceof LockError, String(absent));
    assert.equal(absent.reason, "not-approved");
    const approval = await approvePlugin(space.main, { ...options, lock: { path: space.lock } });
    assert.equal(approval.previous, undefined);
    assert.equal(approval.previousTampered, false);
    const plan = await previewStart(space.main, { ...options, lock: { path: space.lock } });
    assert.ok(plan.notes.includes("lock: approved, unchanged"), plan.notes.join("\n"));
  });
}

Deno.test("lock: an approval replaced by a later one, put back in the lock, approves nothing", async () => {
  const reads = [{ value: "*", reason: "reads what it is given" }];
  await using space = await workspace("hello", { permissions: { read: reads } });
  const data = join(space.cacheDir, "..", "data");
  await Deno.mkdir(data);
  const options = { cacheDir: space.cacheDir, isolation: "deno" as const };
  // Approved with a read grant, then approved again without it: the grant was taken back.
  await approvePlugin(space.main, {
    ...options,
    permissions: { read: [data] },
    lock: { path: space.lock },
  });
  const wider = await Deno.readTextFile(space.lock);
  const narrower = await approvePlugin(space.main, { ...options, lock: { path: space.lock } });
  assert.equal(narrower.removed.length, 1, JSON.stringify(narrower.removed));
  // Whoever may write the lock's folder (a merge, a checkout, another program) puts the old text
  // back: every field and the seal are plugbox's own, so the seal holds.
  await Deno.writeTextFile(space.lock, wider);
  const error = await rejected<LockError>(
    previewStart(space.main, {
      ...options,
      permissions: { read: [data] },
      lock: { path: space.lock },
    }),
  );
  assert.ok(error instanceof LockError, String(error));
  assert.equal(error.reason, "tampered", error.message);
  assert.match(error.message, /replaced by a later approval/);
  // Approving again is the way back, and it says the old entry approved nothing.
  const again = await approvePlugin(space.main, {
    ...options,
    permissions: { read: [data] },
    lock: { path: space.lock },
  });
  assert.equal(again.previousTampered, true);
  const plan = await previewStart(space.main, {
    ...options,
    permissions: { read: [data] },
    lock: { path: space.lock },
  });
  assert.ok(plan.notes.includes("lock: approved, unchanged"), plan.notes.join("\n"));
});

Deno.test("lock: an entry an approving ask replaced, put back, approves nothing", async () => {
  const reads = [{ value: "*", reason: "reads what it is given" }];
  await using space = await workspace("hello", { permissions: { read: reads } });
  const options = { cacheDir: space.cacheDir, isolation: "deno" as const };
  await approvePlugin(space.main, { ...options, lock: { path: space.lock } });
  const old = await Deno.readTextFile(space.lock);
  // The plugin changes; the host's ask says yes, and the new version's entry replaces the old.
  await Deno.writeTextFile(space.main, "// a new version\n", { append: true });
  const ask = { path: space.lock, policy: "ask" as const, ask: () => true };
  await previewStart(space.main, { ...options, lock: ask });
  await Deno.writeTextFile(space.lock, old);
  const error = await rejected<LockError>(
    previewStart(space.main, { ...options, lock: { path: space.lock } }),
  );
  assert.ok(error instanceof LockError, String(error));
  assert.equal(error.reason, "tampered", error.message);
});

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const SUMMARIZER = new URL("../../plugins/summarizer/main.ts", import.meta.url).pathname;

async function plug(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

// `plug audit` writes the layer it ran under, "landlock" included ("auto" picks it where
// bubblewrap cannot run); `plug suggest` read only "os" and "deno" and refused the report whole.
Deno.test("plug suggest reads a report plug audit made under the Landlock layer", async () => {
  await using space = await workspace("unused");
  const docs = join(space.cacheDir, "..", "docs");
  await Deno.mkdir(docs);
  await Deno.writeTextFile(join(docs, "a.md"), "# a\n");
  const audit = await plug([
    "audit",
    SUMMARIZER,
    "summarizer.summarize",
    JSON.stringify(docs),
    `--allow-read=${docs}`,
    "--isolation=deno",
    "--json",
  ]);
  assert.equal(audit.code, 0, audit.stderr);
  const report = JSON.parse(audit.stdout);
  // The same audit as the Landlock layer writes it (its audit sees what the Deno layer's sees).
  report.audit.isolation = "landlock";
  const file = join(docs, "..", "landlock.json");
  await Deno.writeTextFile(file, JSON.stringify(report));
  const suggest = await plug(["suggest", file]);
  assert.equal(suggest.code, 0, suggest.stderr);
  assert.deepEqual(
    JSON.parse(suggest.stdout).permissions.read.map((r: { value: string }) => r.value),
    [docs],
  );
});

Deno.test("lock: a lock in the plugin's folder is refused naming the folder neutralised", async () => {
  await using space = await workspace("kv\x1b]0;owned\x07\u202e");
  const lock = join(space.main, "..", "plugbox.lock");
  const error = await rejected<TypeError>(
    previewStart(space.main, {
      name: "kv",
      cacheDir: space.cacheDir,
      isolation: "deno",
      lock: { path: lock },
    }),
  );
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /lies in the plugin's folder/);
  for (const raw of ["\x1b", "\x07", "\u202e"]) {
    assert.ok(!error.message.includes(raw), error.message);
  }
});

// An approval is a verdict made in one view: the layer. Approved under the OS layer, a run grant's
// program runs inside the sandbox; started under the Deno layer, on the host. The lock said
// "approved, unchanged" (review 89).
Deno.test("lock: an approval made under a layer holds under it and stronger ones, not under a weaker", async () => {
  await using space = await workspace("hello");
  const lock = { path: space.lock };
  const approval = await approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "os",
    lock,
  });
  assert.equal(approval.next.isolation, "os");
  const same = await previewStart(space.main, { cacheDir: space.cacheDir, isolation: "os", lock });
  assert.ok(same.notes.includes("lock: approved, unchanged"), same.notes.join("\n"));
  for (const weaker of ["deno", "landlock"] as const) {
    const error = await rejected<LockError>(
      previewStart(space.main, { cacheDir: space.cacheDir, isolation: weaker, lock }),
    );
    assert.ok(error instanceof LockError, `${weaker}: ${error}`);
    assert.match(error.message, new RegExp(`grants isolation "${weaker}"`), error.message);
  }
  // Approved under the Deno layer, a stronger one asks for no more.
  await approvePlugin(space.main, { cacheDir: space.cacheDir, isolation: "deno", lock });
  const stronger = await previewStart(space.main, {
    cacheDir: space.cacheDir,
    isolation: "os",
    lock,
  });
  assert.ok(stronger.notes.includes("lock: approved, unchanged"), stronger.notes.join("\n"));
  // The layer is sealed: an entry whose layer was rewritten does not pass.
  const text = await Deno.readTextFile(space.lock);
  await Deno.writeTextFile(space.lock, text.replace('"isolation": "deno"', '"isolation": "os"'));
  const rewritten = await rejected<LockError>(
    previewStart(space.main, { cacheDir: space.cacheDir, isolation: "os", lock }),
  );
  assert.equal(rewritten.reason, "tampered", rewritten.message);
});
