/**
 * Review 91: the `plug` command line taken at its word. Each case runs the real CLI as a
 * subprocess: a command named like Object.prototype's members, an option that changes what a
 * command does given where it does nothing, a second module no command reads, reports whose
 * sizes pass the cap only together, and a plugin or a report that names more than a terminal
 * should be shown.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostile, plugRun as plug } from "./_hostile.ts";
import { asSessionLeader } from "./_tty.ts";

const HELLO = fileURLToPath(new URL("../../plugins/hello/main.ts", import.meta.url));
const KV = fileURLToPath(new URL("../../plugins/kv/main.ts", import.meta.url));

async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r91-" }));
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

// The commands were looked up with `in` and by index on plain objects: `plug constructor` called
// Object() and exited 0, having done nothing; `plug help toString` was a TypeError.
Deno.test("review 91: a command named like an Object.prototype member is unknown, exit code 2", async () => {
  for (const name of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
    for (const args of [[name], ["help", name], [name, "--help"]]) {
      const run = await plug(args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`^UsageError: unknown command "${name}"`), run.stderr);
    }
  }
});

// `--allow-all=false` (a script's `--allow-all=$ALL`) granted everything.
Deno.test("review 91: --allow-all and -A take no value; --allow-all=false grants nothing", async () => {
  const run = await plug([
    "check",
    HELLO,
    "--allow-all=false",
    "--unsafe-all",
    "--manifest=ignore",
    "--isolation=deno",
  ]);
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stderr, /^UsageError: --allow-all takes no value/);
  assert.equal(run.stdout, "");
});

// A second module was ignored: the verdict named the first only, and the exit code was 0.
Deno.test("review 91: inspect, check and approve take one module, and refuse a second", async () => {
  await using space = await tempDir();
  const lock = `--lock=${join(space.dir, "plugbox.lock")}`;
  const runs = [
    ["check", HELLO, KV, "--isolation=deno"],
    ["inspect", HELLO, KV, "--isolation=deno"],
    ["approve", HELLO, KV, "--isolation=deno", "--dry-run", lock],
    ["approve", HELLO, KV, "--isolation=deno", lock],
  ];
  for (const args of runs) {
    const run = await plug(args);
    assert.equal(run.code, 2, `${args[0]}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, new RegExp(`^UsageError: plug ${args[0]} takes one module`));
    assert.equal(run.stdout, "", args[0]);
  }
  await assert.rejects(Deno.stat(join(space.dir, "plugbox.lock")), Deno.errors.NotFound);
});

// Taken silently: `plug call --dry-run` ran the plugin, and `--lock-policy=refuse` without
// `--lock` started it with no lock at all, exit code 0 both times.
Deno.test("review 91: --dry-run outside approve and --lock-policy without --lock are usage errors", async () => {
  const call = [HELLO, "greeter.sayHello", '"a"', "--isolation=deno"];
  const runs = [
    {
      args: ["call", ...call, "--dry-run"],
      says: /^UsageError: --dry-run applies to plug approve/,
    },
    {
      args: ["audit", ...call, "--dry-run"],
      says: /^UsageError: --dry-run applies to plug approve/,
    },
    { args: ["call", ...call, "--lock-policy=refuse"], says: /^UsageError: --lock-policy applies/ },
    { args: ["check", HELLO, "--lock-policy=refuse"], says: /^UsageError: --lock-policy applies/ },
  ];
  for (const { args, says } of runs) {
    const run = await plug(args);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, says);
    assert.equal(run.stdout, "", args.join(" "));
  }
});

const EMPTY_REPORT = JSON.stringify({
  audit: {
    plugin: "p",
    root: "/tmp/p",
    snapshot: "/tmp/s",
    isolation: "deno",
    grants: { read: [], write: [], net: [], env: [], sys: [] },
    entries: [],
    checks: 0,
    bytes: 0,
    dropped: 0,
    malformed: 0,
    overflow: false,
    finished: true,
    complete: true,
  },
});

// Each report was capped at 256 MiB, and all were held until merged: one file of 250 MB given
// ten times took 4.8 GB and a minute. A report of 140 MB given twice passes the cap together.
Deno.test("review 91: plug suggest reads no more than its cap from all its reports together", async () => {
  await using space = await tempDir();
  const report = join(space.dir, "report.json");
  await using file = await Deno.open(report, { write: true, create: true });
  await file.write(new TextEncoder().encode(EMPTY_REPORT));
  const spaces = new Uint8Array(1 << 20).fill(0x20);
  for (let i = 0; i < 140; i++) {
    for (let at = 0; at < spaces.length;) at += await file.write(spaces.subarray(at));
  }
  const once = await plug(["suggest", report]);
  assert.equal(once.code, 0, once.stderr);
  const twice = await plug(["suggest", report, report]);
  assert.equal(twice.code, 2, twice.stderr);
  assert.match(
    twice.stderr,
    /^UsageError: audit ".*report\.json" passes the 268435456 bytes plug suggest reads from all its reports together/,
  );
  assert.equal(twice.stdout, "");
});

// The text view listed every described method: 100 contracts of 1,000 were 100,000 lines of the
// plugin's words after plugbox's own (the --json view caps its schemas at 1 MiB in all).
Deno.test("review 91 [deno]: plug inspect lists at most 1,000 described methods, and counts the rest", async () => {
  const run = await plug(["inspect", hostile("r91_describes_many.ts"), "--isolation=deno"]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split("\n");
  assert.ok(lines.length < 1100, `${lines.length} lines`);
  assert.equal(lines.filter((line) => /^ {4}m\d+m+\(string\): string$/.test(line)).length, 1000);
  assert.equal(
    lines.at(-1),
    "  and 99000 more methods of 99 contracts (plug inspect --json lists them)",
  );
});

// Every note was written, whole: a report of a million values no entry can grant was a million
// lines on stderr, each up to 32 KB. A report's values are whoever wrote it's.
Deno.test("review 91: plug suggest writes at most 100 notes, each bounded, and counts the rest", async () => {
  await using space = await tempDir();
  const entry = (value: string) => ({
    source: "deno",
    kind: "bogus",
    value,
    granted: false,
    count: 1,
    first: 0,
    last: 0,
    calls: [],
    outsideCalls: 1,
    ambiguous: 0,
  });
  const report = JSON.parse(EMPTY_REPORT);
  report.audit.entries = [
    entry("x".repeat(30_000)),
    ...Array.from({ length: 5000 }, (_, i) => entry(`v${i}`)),
  ];
  const file = join(space.dir, "report.json");
  await Deno.writeTextFile(file, JSON.stringify(report));
  const run = await plug(["suggest", file]);
  assert.equal(run.code, 0, run.stderr.slice(0, 500));
  const notes = run.stderr.trimEnd().split("\n");
  assert.equal(notes.length, 101, `${notes.length} lines`);
  assert.ok(notes.every((line) => line.startsWith("note: ") && line.length < 1200));
  assert.equal(notes.at(-1), "note: and 4901 more notes, not shown");
});

// Review 91's open item: a folder changed between `plug inspect` and `plug approve` was sealed,
// with only a `changed:` hash line to tell. `--expect` seals only the content inspect showed.
Deno.test("review 91: approve --expect seals only the content inspect showed; changed since, it is refused and the lock untouched", async () => {
  await using temp = await tempDir();
  const folder = join(temp.dir, "p");
  await Deno.mkdir(folder);
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(join(HELLO, "..", file), join(folder, file));
  }
  const main = join(folder, "main.ts");
  const lock = join(temp.dir, "plugbox.lock");
  const inspected = await plug(["inspect", main, "--isolation=deno"]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const shown = /^content +([0-9a-f]{64}) /m.exec(inspected.stdout)?.[1];
  assert.ok(shown, inspected.stdout);
  // The folder changes after the review: its approval names what was reviewed and is refused.
  await Deno.writeTextFile(main, `${await Deno.readTextFile(main)}\n// changed after review\n`);
  const refused = await plug(["approve", main, `--lock=${lock}`, `--expect=${shown}`]);
  assert.equal(refused.code === 0, false, refused.stdout);
  assert.match(
    refused.stderr,
    new RegExp(
      `^LockError: Cannot change the lock for plugin ".*": ".*p" is content [0-9a-f]{12} now, not ${
        shown.slice(0, 12)
      } as expected`,
    ),
  );
  await assert.rejects(Deno.stat(lock), Deno.errors.NotFound);
  // As reviewed, it is approved.
  const again = await plug(["inspect", main, "--isolation=deno", "--json"]);
  const hash: string = JSON.parse(again.stdout).snapshot.hash;
  const approved = await plug(["approve", main, `--lock=${lock}`, `--expect=${hash}`]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, new RegExp(`content  new: ${hash.slice(0, 12)}`));
  // Malformed, or given to another command, it is a usage error.
  for (const args of [["approve", main, "--expect=xyz"], ["check", main, `--expect=${hash}`]]) {
    const run = await plug(args);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^UsageError: --expect /);
  }
});

// Review 91's open item: a path plugbox opens to judge it (a command plugin's program, a report
// for plug suggest) was opened without O_NOCTTY. A host that is a session leader with no
// controlling terminal (a service, a setsid) given a terminal's path made it its own, and that
// terminal's hang-up became the host's SIGHUP. Each open is made from such a process, on a
// pseudo-terminal python makes; the process's terminal stays none.
Deno.test("review 91: a terminal named as a program or a report never becomes the host's controlling terminal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "r91-tty-" });
  try {
    await Deno.writeTextFile(join(dir, "main.py"), "print(1)\n");
    const { lines, stderr } = await asSessionLeader("tty_opener.ts", dir);
    const [before, program, report] = lines;
    assert.equal(before, "before 0", stderr);
    assert.match(program, /^program 0 .*program "\/dev\/pts\/\d+" is not a regular file/, stderr);
    assert.match(report, /^report 0 audit "\/dev\/pts\/\d+" is not a regular file/, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
