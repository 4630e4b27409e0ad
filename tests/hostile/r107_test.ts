// Review 107: attack on the newest fixes. JSON an untrusted folder or checkout writes (a
// manifest, a lock, an audit report) behind two byte order marks: the read drops one before its
// scan, and a decoder that drops the second handed JSON.parse text the scan had judged no JSON,
// so neither the structure caps nor the refusal of a key given twice applied. And the reads of
// many plugins' stderr, each within its own rate, together (runner/host/stderr_budget.ts).

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LockError, PreflightError } from "../../mod.ts";
import { type LockEntry, readLock, sealOf } from "../../runner/sandbox/lock_file.ts";
import { readManifest } from "../../runner/sandbox/manifest.ts";
import {
  hostReadAllows,
  joinHostBudget,
  STDERR_HOST_READS_PER_SECOND,
} from "../../runner/host/stderr_budget.ts";
import { heldClock, heldTimers, readAt, type Step } from "./_stderr_clock.ts";

const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const TWO_MARKS = [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf];

/** `text` behind two UTF-8 byte order marks. */
function marked(text: string): Uint8Array {
  return new Uint8Array([...TWO_MARKS, ...new TextEncoder().encode(text)]);
}

/** What `read` threw, or a failure naming what it returned. */
function thrownBy(read: () => unknown): unknown {
  let value: unknown;
  try {
    value = read();
  } catch (error) {
    return error;
  }
  assert.fail(`read, not refused: ${JSON.stringify(value)}`);
}

Deno.test("a manifest behind two byte order marks that names permissions twice is refused, not read as the last", () => {
  const dir = Deno.makeTempDirSync({ prefix: "plugbox-r107-" });
  try {
    // A reviewer of the pull request sees the narrow "permissions"; JSON.parse keeps the wide one.
    const text = '{"permissions":{"read":[{"value":"/srv/data","reason":"its data"}]},' +
      '"permissions":{"read":[{"value":"*","reason":"all"}],"env":[{"value":"*","reason":"all"}]}}';
    Deno.writeFileSync(join(dir, "plugbox.json"), marked(text));
    const error = thrownBy(() => readManifest("p", dir));
    assert.ok(error instanceof PreflightError, String(error));
    assert.match(error.message, /is not JSON/);
    // One mark is a file's own (an editor wrote it): read as before.
    Deno.writeFileSync(join(dir, "plugbox.json"), marked(text).subarray(3));
    const one = thrownBy(() => readManifest("p", dir)) as Error;
    assert.match(one.message, /holds a key twice in one object/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a lock behind two byte order marks that holds a plugin's entry twice is refused, not read as the last", () => {
  const key = "k".repeat(32);
  const sealed = (read: string[]): LockEntry => {
    const entry = {
      root: "/srv/plugins/p",
      hash: "a".repeat(64),
      requests: { read },
      grants: { read, write: [], net: [], env: [], sys: [], run: [], ffi: [], all: false },
      approvedAt: "2026-01-01T00:00:00.000Z",
      isolation: "os" as const,
    };
    return { ...entry, seal: sealOf(key, "p", entry) };
  };
  const path = Deno.makeTempFileSync({ suffix: ".lock" });
  try {
    const narrow = JSON.stringify(sealed(["/srv/data"]));
    const wide = JSON.stringify(sealed(["/"]));
    Deno.writeFileSync(path, marked(`{"version":1,"plugins":{"p":${narrow},"p":${wide}}}`));
    const error = thrownBy(() => readLock(path, "p"));
    assert.ok(error instanceof LockError, String(error));
    assert.equal(error.reason, "malformed");
    assert.match(error.message, /is not JSON/);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("plug suggest refuses a report behind two byte order marks nested past its structure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plugbox-r107-" });
  try {
    // A report plug suggest takes whole, with one member more, 20,000 deep (its cap is 8): the
    // member zod strips unread, so only the scan could have refused it.
    const paths = { read: [], write: [], net: [], env: [], sys: [] };
    const report = {
      plugin: "p",
      root: "/srv/plugins/p",
      snapshot: "/tmp/s",
      isolation: "deno",
      grants: paths,
      entries: [],
      checks: 0,
      bytes: 0,
      dropped: 0,
      malformed: 0,
      overflow: false,
      finished: true,
      complete: true,
    };
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const text = JSON.stringify(report).replace(/\}$/, `,"x":${deep}}`);
    const path = join(dir, "audit.json");
    await Deno.writeFile(path, marked(text));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "suggest", path],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const out = await child.output().finally(() => clearTimeout(timer));
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, `exit ${out.code}: ${stderr.slice(-500)}`);
    assert.match(stderr, /is not JSON: write it with plug audit --json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Readers that each read until the host refuses them (or `own` reads), one after another. */
function readersInTurn(count: number, own: number): number {
  let allowed = 0;
  for (let i = 0; i < count; i++) {
    const share = joinHostBudget();
    for (let read = 0; read < own && hostReadAllows(share); read++) allowed++;
  }
  return allowed;
}

// Reads were bounded per plugin only (2,000 a second): 16 plugins dripping a byte a write, no line
// ever ended, held 49% of the host's thread on real pipes (7% for one). Every plugin's reads are
// shared now, as the lines' time is: a reader past its share waits while the others' are spent.
Deno.test("r107: plugins reading stderr at once share the host's reads; one within its share is never held", async () => {
  await heldClock(28_800_000, (clock, at) => {
    clock.now = at(0);
    const floods = Array.from({ length: 16 }, () => joinHostBudget());
    const honest = joinHostBudget();
    const held = new Set<unknown>();
    let allowed = 0;
    let honestHeld = 0;
    for (let round = 0; round < 2000; round++) {
      for (const share of floods) {
        if (held.has(share)) continue; // a reader held waits for the next second
        if (hostReadAllows(share)) allowed++;
        else held.add(share);
      }
      if (round % 40 === 0 && !hostReadAllows(honest)) honestHeld++; // 50 reads
    }
    assert.ok(allowed <= STDERR_HOST_READS_PER_SECOND + 16, `${allowed} reads in a second`);
    assert.equal(held.size, 16);
    assert.equal(honestHeld, 0);
    return Promise.resolve();
  });
});

// Shares handed out as readers come add up (10,000 over 1, 2, 3… readers): twice the reads a
// second at most, whoever comes.
Deno.test("r107: plugins that begin reading one after another take twice the host's reads a second at most", async () => {
  await heldClock(32_400_000, (clock, at) => {
    clock.now = at(0);
    const allowed = readersInTurn(30, 2000);
    assert.ok(allowed <= 2 * STDERR_HOST_READS_PER_SECOND, `${allowed} reads in a second`);
    return Promise.resolve();
  });
});

// The reader waits where the host's reads are spent, until the host's next second (not its own,
// which began 400 ms later); what the plugin wrote meanwhile is read then, every line kept.
Deno.test("r107: a plugin's stderr reading waits while every plugin's reads are spent, and loses no line", async () => {
  await heldClock(36_000_000, async (clock, at) => {
    clock.now = at(0);
    readersInTurn(40, 2000); // the host's second begins, its reads spent
    clock.now = at(400);
    const steps: Step[] = [0, 1, 2, 3, 4].map((i) => ({
      at: at(400 + 10 * i),
      text: `line ${i}\n`,
    }));
    let lines: string[] = [];
    const waits = await heldTimers(clock, async () => {
      lines = await readAt(clock, steps, { ended: new Promise(() => {}) });
    });
    assert.deepEqual(lines, [0, 1, 2, 3, 4].map((i) => `line ${i}`));
    assert.ok(waits.length >= 5, `${waits.length} waits`);
    for (const wait of waits) assert.equal(wait.until - at(0), 1000, "waits for the host's second");
  });
});
