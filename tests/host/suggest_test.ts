// suggestManifest() on audits made by hand: how each kind of entry becomes
// a manifest entry or a note. The round trip on real plugins is in
// tests/examples_audit_test.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type AuditEntry, type AuditLog, suggestManifest } from "../../mod.ts";

function entry(kind: string, value: string | null, granted: boolean, method = "c.m"): AuditEntry {
  return {
    source: "deno",
    kind,
    value,
    granted,
    count: 1,
    first: 0,
    last: 0,
    calls: [{ id: 1, method }],
    outsideCalls: 0,
    ambiguous: 0,
  };
}

function log(entries: AuditEntry[], grants: Partial<AuditLog["grants"]> = {}): AuditLog {
  return {
    plugin: "p",
    root: "/plugins/p",
    snapshot: "/cache/snapshots/abc",
    isolation: "deno",
    grants: { read: [], write: [], net: [], env: [], sys: [], ...grants },
    entries,
    checks: entries.length,
    bytes: 0,
    dropped: 0,
    malformed: 0,
    overflow: false,
    finished: true,
    complete: true,
  };
}

const values = (suggestion: ReturnType<typeof suggestManifest>) =>
  Object.fromEntries(
    Object.entries(suggestion.manifest.permissions).map(([k, v]) => [k, v!.map((r) => r.value)]),
  );

Deno.test("suggestManifest() collapses granted paths to the narrowest granted folder that held them", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(join(dir, "inner"));
    const suggestion = suggestManifest([log([
      entry("read", join(dir, "a.txt"), true),
      entry("read", join(dir, "inner", "b.txt"), true),
      entry("write", join(dir, "inner", "c.txt"), true),
    ], { read: [dir, join(dir, "inner")], write: [dir] })]);
    assert.deepEqual(values(suggestion), { read: [dir], write: [dir] });
    assert.match(suggestion.manifest.permissions.read![0].reason, /^TODO: .*\(seen in c\.m\)$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("suggestManifest() turns a denied path into its real path, or its nearest existing folder", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(join(dir, "there.txt"), "x");
    const suggestion = suggestManifest([log([
      entry("read", join(dir, "there.txt"), false),
      entry("write", join(dir, "new", "deeper", "file.txt"), false),
    ])]);
    assert.deepEqual(values(suggestion), { read: [join(dir, "there.txt")], write: [dir] });
    assert.deepEqual(suggestion.notes, [
      `write "${join(dir, "new", "deeper", "file.txt")}": "${
        join(dir, "new", "deeper", "file.txt")
      }" does not exist here; suggested its folder "${dir}"`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("suggestManifest() keeps hosts with ports and names, and notes what no entry can grant", () => {
  const suggestion = suggestManifest([log([
    entry("net", "example.com:443", false),
    entry("env", "API_TOKEN", false),
    entry("env", "HOME", false),
    entry("env", null, false),
    entry("sys", "hostname", false),
    entry("read", "/proc/cpuinfo", false),
    entry("read", "/cache/snapshots/abc/data.json", false),
    entry("write", "<TMP>", false),
    entry("import", "esm.sh:443", false),
    entry("teleport", "mars", false),
  ])]);
  assert.deepEqual(values(suggestion), {
    env: ["API_TOKEN"],
    net: ["example.com:443"],
    sys: ["hostname"],
  });
  assert.equal(suggestion.notes.length, 7);
  assert.match(suggestion.notes.join("\n"), /env "HOME": plugbox sets it or never grants it/);
  assert.match(suggestion.notes.join("\n"), /reads its own files at run time; import them instead/);
  assert.match(suggestion.notes.join("\n"), /import "esm\.sh:443": .*never loads remote modules/);
});

Deno.test("suggestManifest() merges runs, and warns when an audit was incomplete", () => {
  const first = log([entry("net", "a.example:443", true, "f.one")], { net: ["a.example:443"] });
  const second = {
    ...log([entry("net", "a.example:443", true, "f.two"), entry("net", "b.example:80", false)]),
    dropped: 3,
    complete: false,
  };
  const suggestion = suggestManifest([first, second], { description: "Fetches." });
  assert.deepEqual(values(suggestion), { net: ["a.example:443", "b.example:80"] });
  assert.match(suggestion.manifest.permissions.net![0].reason, /seen in f\.one, f\.two/);
  assert.equal(suggestion.manifest.description, "Fetches.");
  assert.deepEqual(suggestion.warnings, [
    'the audit of "p" is incomplete (3 entries dropped, 0 malformed): the suggestion may be too narrow',
  ]);
});
