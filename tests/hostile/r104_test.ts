// Review 104: what a project's lock file holds, read before any process starts.

import assert from "node:assert/strict";
import { join } from "node:path";
import { LockError, previewStart } from "../../mod.ts";
import { type LockEntry, readLock, sealOf } from "../../runner/sandbox/lock_file.ts";
import { fixture, rejected } from "../_helpers.ts";
import { pluginFolder } from "./_hostile.ts";

const KEY = "k".repeat(32);

/** An entry for `plugin`, sealed with {@linkcode KEY}, reading `read`. */
function sealed(plugin: string, read: string[]): LockEntry {
  const entry = {
    root: "/srv/plugins/p",
    hash: "a".repeat(64),
    requests: { read },
    grants: { read, write: [], net: [], env: [], sys: [], run: [], ffi: [], all: false },
    approvedAt: "2026-01-01T00:00:00.000Z",
    isolation: "os" as const,
  };
  return { ...entry, seal: sealOf(KEY, plugin, entry) };
}

/** `readLock` over `text` written to a file of its own; what it threw. */
function refusal(text: string | Uint8Array): LockError {
  const path = Deno.makeTempFileSync({ suffix: ".lock" });
  try {
    if (typeof text === "string") Deno.writeTextFileSync(path, text);
    else Deno.writeFileSync(path, text);
    let thrown: unknown;
    try {
      readLock(path, "p");
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof LockError, `read, not refused: ${String(thrown)}`);
    assert.equal(thrown.reason, "malformed");
    return thrown;
  } finally {
    Deno.removeSync(path);
  }
}

Deno.test("a lock that holds a plugin's entry twice is refused: a reviewer reads the first, JSON.parse keeps the last", () => {
  // Both sealed (an older approval put back, say): the narrow one first, where a reader sees it.
  const narrow = JSON.stringify(sealed("p", ["/srv/data"]));
  const wide = JSON.stringify(sealed("p", ["/"]));
  const error = refusal(`{"version":1,"plugins":{"p":${narrow},"p":${wide}}}`);
  assert.match(error.message, /holds a key twice in one object/);
});

Deno.test("a lock entry whose requests name a kind no manifest has is refused, not carried along", () => {
  const entry = { ...sealed("p", []), requests: { "k0": [], "constructor": [] } };
  const error = refusal(JSON.stringify({ version: 1, plugins: { p: entry } }));
  assert.match(error.message, /is malformed at plugins\.p\.requests/);
});

Deno.test("a lock nested or filled beyond its structure is refused by its structure, before it is parsed", () => {
  const deep = `{"version":1,"plugins":{"p":{"root":${"[".repeat(50)}${"]".repeat(50)}}}}`;
  assert.match(refusal(deep).message, /is nested deeper than 6 levels/);
  // Behind a byte order mark, which the decoder drops: the scan judges the same text.
  const marked = new TextEncoder().encode(`\uFEFF${deep}`);
  assert.match(refusal(marked).message, /is nested deeper than 6 levels/);
  // 600,000 values in 1.2 MB: each entry of another plugin's costs every start its check.
  const many = `{"version":1,"plugins":{},"x":[${"0,".repeat(600_000)}0]}`;
  assert.match(refusal(many).message, /holds more than 500000 values/);
});

Deno.test("a lock within its structure, of a thousand sealed entries, still reads whole", () => {
  const plugins: Record<string, LockEntry> = {};
  for (let i = 0; i < 1000; i++) plugins[`p${i}`] = sealed(`p${i}`, ["/srv/data", "/srv/more"]);
  const path = Deno.makeTempFileSync({ suffix: ".lock" });
  try {
    Deno.writeTextFileSync(path, JSON.stringify({ version: 1, plugins }, null, 2));
    const lock = readLock(path, "p7");
    assert.equal(Object.keys(lock.plugins).length, 1000);
    assert.deepEqual(lock.plugins.p7, plugins.p7);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a lock spelled through a link to a file named with ESC and bidi controls is refused, its name neutralised", async () => {
  await using folder = await pluginFolder({
    "main.ts": await Deno.readTextFile(fixture("bare_echo.ts")),
  });
  // The project's folder, beside the plugin's: a pull request made plugbox.lock a link.
  const project = await Deno.makeTempDir({ prefix: "plugbox-r104-" });
  try {
    const named = "x\x1b]0;approved\x07\x1b[2J\u202e.lock";
    await Deno.writeTextFile(join(project, named), '{"version":1,"plugins":{}}');
    await Deno.symlink(named, join(project, "plugbox.lock"));
    const error = await rejected<Error>(
      previewStart(join(folder.dir, "main.ts"), {
        isolation: "deno",
        lock: { path: join(project, "plugbox.lock") },
      }),
    );
    const raw = ["\x1b", "\x07", "\u202e"].filter((c) => error.message.includes(c));
    assert.deepEqual(raw, [], `raw in: ${JSON.stringify(error.message)}`);
    assert.ok(error instanceof TypeError, `${error.name}: ${error.message}`);
    assert.match(error.message, /holds control or bidi characters/);
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});
