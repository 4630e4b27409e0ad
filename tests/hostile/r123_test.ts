// Review 123: the `plug` CLI and the permission audit, used on a plugin folder its user does not
// trust. Each test failed on the code it was written against (076e3fd).
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { main } from "../../cli.ts";
import { tempFolder } from "./_python_shim.ts";

/** A plugin whose `net.connect` connects to each host given, and says what each connect did. */
const CONNECTOR = `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
const Net = defineContract({ name: "net", version: 1, methods: {
  connect: z.function({ input: [z.array(z.string()), z.number()], output: z.array(z.string()) }),
} });
await serve(implement(Net, {
  connect: async (hosts, port) => {
    const out: string[] = [];
    for (const hostname of hosts) {
      try {
        (await Deno.connect({ hostname, port })).close();
        out.push("connected");
      } catch (error) {
        out.push((error as Error).name);
      }
    }
    return out;
  },
}));
`;

/** `plug <args>` in this process: its exit code and what it wrote on stdout. */
async function plug(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

interface Report {
  call: { ok: boolean; result?: string[] };
  audit: { entries: { kind: string; value: string; granted: boolean }[] };
}

/** `plug audit --json` of the connector asked to connect to `hosts`, granted `grant`. */
async function auditConnects(hosts: string[], port: number, grant: string): Promise<Report> {
  await using dir = await tempFolder("plugbox-r123-net-");
  await Deno.writeTextFile(join(dir.path, "main.ts"), CONNECTOR);
  const run = await plug([
    "audit",
    join(dir.path, "main.ts"),
    "net.connect",
    JSON.stringify(hosts),
    String(port),
    `--allow-net=${grant}`,
    "--unsafe-private-network",
    "--manifest=ignore",
    "--isolation=deno",
    "--json",
  ]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

// Deno reads a host as an address only when it is one as written; "127.1", "0x7f000001" and
// "2130706433" are names to it, and it refuses them under a grant of 127.0.0.1. plugbox judged
// each line of the audit by the URL parser, which reads them all as 127.0.0.1: the audit said
// "granted 127.0.0.1:PORT", one entry with the real connection, of three connects Deno refused.
Deno.test("r123: the audit says denied of a host Deno refused as a name, whatever the URL parser reads it as", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  const hosts = ["127.1", "0x7f000001", "2130706433", "127.0.0.1"];
  const report = await auditConnects(hosts, port, `127.0.0.1:${port}`);
  // What Deno did, in the plugin's words: only the address as written connected.
  assert.deepEqual(report.call.result, ["NotCapable", "NotCapable", "NotCapable", "connected"]);
  const net = report.audit.entries.filter((e) => e.kind === "net");
  const verdicts = Object.fromEntries(net.map((e) => [e.value, e.granted]));
  assert.deepEqual(verdicts, {
    [`127.1:${port}`]: false,
    [`0x7f000001:${port}`]: false,
    [`2130706433:${port}`]: false,
    [`127.0.0.1:${port}`]: true,
  });
  listener.close();
  await accepting;
});

// The other way: a grant of "localhost." is Deno's "localhost" (it drops the final dot), and the
// URL parser keeps the dot. The plugin connected, and its audit said "DENIED localhost:PORT"; so it
// said of a connect to 127.0.0.1 under a grant of "[::ffff:127.0.0.1]", which Deno reads as it.
Deno.test("r123: the audit says granted of a connection Deno made to a host granted with a final dot", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  const report = await auditConnects(["localhost", "LOCALHOST"], port, `localhost.:${port}`);
  assert.deepEqual(report.call.result, ["connected", "connected"]);
  const net = report.audit.entries.filter((e) => e.kind === "net");
  assert.deepEqual(net.map((e) => [e.value, e.granted]), [[`localhost:${port}`, true]]);
  // Deno reads an IPv4-mapped address as the IPv4 address, its grant too.
  const mapped = await auditConnects(["127.0.0.1"], port, `[::ffff:127.0.0.1]:${port}`);
  assert.deepEqual(mapped.call.result, ["connected"]);
  assert.deepEqual(
    mapped.audit.entries.filter((e) => e.kind === "net").map((e) => [e.value, e.granted]),
    [[`127.0.0.1:${port}`, true]],
  );
  listener.close();
  await accepting;
});

// plug approve listed a request by its spelling, cut at 200 characters: a request of a folder in
// /tmp, 190 "a" long, then "/../../home", read as a folder in /tmp, and the lock recorded a request
// covering /home (plug inspect showed it). A link on the way hid where a request led the same way. Now each path request is shown by what it covers, then its spelling.
Deno.test("r123: plug approve shows what a path request covers, not only how the manifest spells it", async () => {
  await using dir = await tempFolder("plugbox-r123-approve-");
  const root = join(dir.path, "plugin");
  await Deno.mkdir(join(dir.path, "target"), { recursive: true });
  await Deno.mkdir(root);
  await Deno.writeTextFile(
    join(root, "main.ts"),
    CONNECTOR,
  );
  await Deno.symlink(join(dir.path, "target"), join(dir.path, "cache"));
  const climbing = `${dir.path}/${"a".repeat(190)}/../target`;
  await Deno.writeTextFile(
    join(root, "plugbox.json"),
    JSON.stringify({
      permissions: {
        read: [
          { value: climbing, reason: "reads its settings" },
          { value: join(dir.path, "cache"), reason: "reads its cache" },
        ],
      },
    }),
  );
  const run = await plug([
    "approve",
    join(root, "main.ts"),
    `--lock=${join(dir.path, "plugbox.lock")}`,
    "--isolation=deno",
    "--dry-run",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const added = run.stdout.split("\n").find((line) => line.startsWith("  added"));
  const target = join(dir.path, "target");
  assert.ok(added?.includes(`requests read "${target}" (written "${dir.path}/aaa`), added);
  assert.ok(added?.includes(`requests read "${target}" (written "${dir.path}/cache")`), added);
});

/** A plugin whose `dir.read` enters a folder, then reads a path relative to it. */
const WANDERER = `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
const Dir = defineContract({ name: "dir", version: 1, methods: {
  read: z.function({ input: [z.string(), z.string()], output: z.string() }),
} });
await serve(implement(Dir, {
  read: async (folder, path) => {
    Deno.chdir(folder);
    return await Deno.readTextFile(path);
  },
}));
`;

// Deno writes a relative path as the plugin gave it, and resolves it in the working folder of the
// moment; Deno.chdir asks only for read of the folder it enters. The audit resolved it in the
// folder the plugin started in: a plugin that entered its granted folder and read "secret.txt"
// there was audited as "DENIED <its own folder>/secret.txt", complete. Now the entry is marked
// uncertain, shown UNSURE, and the audit is incomplete.
Deno.test("r123: a relative path read after the plugin changed folder is not audited as a denied read of its own file", async () => {
  await using dir = await tempFolder("plugbox-r123-chdir-");
  const granted = join(dir.path, "granted");
  await Deno.mkdir(join(dir.path, "plugin"));
  await Deno.mkdir(granted);
  await Deno.writeTextFile(join(granted, "secret.txt"), "SECRET-OF-THE-GRANTED-FOLDER");
  await Deno.writeTextFile(join(dir.path, "plugin", "main.ts"), WANDERER);
  const args = [
    "audit",
    join(dir.path, "plugin", "main.ts"),
    "dir.read",
    JSON.stringify(granted),
    '"secret.txt"',
    `--allow-read=${granted}`,
    "--manifest=ignore",
    "--isolation=deno",
  ];
  const json = await plug([...args, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  // What Deno did: it let the plugin read the granted folder's file.
  assert.equal(report.call.result, "SECRET-OF-THE-GRANTED-FOLDER");
  const relative = report.audit.entries.filter((e: { value: string }) =>
    e.value.endsWith("/secret.txt")
  );
  assert.equal(relative.length, 1, json.stdout);
  assert.equal(relative[0].uncertain, true, json.stdout);
  assert.equal(report.audit.complete, false);
  const text = await plug(args);
  assert.equal(text.code, 0, text.stderr);
  const line = text.stdout.split("\n").find((l) => l.includes("/secret.txt"));
  assert.match(line ?? "", /^ {2}UNSURE /, text.stdout);
  assert.doesNotMatch(text.stdout, /DENIED/);
  assert.match(text.stdout, /incomplete: 1 relative paths after it may have changed folder/);
  // plug suggest grants no guess of where it was.
  const saved = join(dir.path, "audit.json");
  await Deno.writeTextFile(saved, json.stdout);
  const suggested = await plug(["suggest", saved]);
  assert.equal(suggested.code, 0, suggested.stderr);
  assert.match(suggested.stderr, /secret\.txt": a relative path after it may have changed folder/);
  assert.match(suggested.stderr, /^warning: .*1 relative paths after it may have changed folder/m);
});

/** A plugin whose `fs.touch` tries to read each path given, and says nothing of how it went. */
const TOUCHER = `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
const Fs = defineContract({ name: "fs", version: 1, methods: {
  touch: z.function({ input: [z.array(z.string())], output: z.null() }),
} });
await serve(implement(Fs, {
  touch: async (paths) => {
    for (const path of paths) await Deno.readTextFile(path).catch(() => {});
    return null;
  },
}));
`;

/** `plug audit`'s arguments for the toucher plugin (written in `dir`/plugin) touching `paths`. */
async function touchArgs(dir: string, paths: string[]): Promise<string[]> {
  const main = join(dir, "plugin", "main.ts");
  await Deno.mkdir(dirname(main), { recursive: true });
  await Deno.writeTextFile(main, TOUCHER);
  return ["audit", main, "fs.touch", JSON.stringify(paths), "--isolation=deno"];
}

/** The toucher's `plug audit --json` of `paths`, saved in `dir` for `plug suggest`: its path. */
async function savedAudit(dir: string, paths: string[]): Promise<string> {
  const audit = await plug([...await touchArgs(dir, paths), "--json"]);
  assert.equal(audit.code, 0, audit.stderr);
  const saved = join(dir, "audit.json");
  await Deno.writeTextFile(saved, audit.stdout);
  return saved;
}

// A denied read of a path that does not exist is suggested as its nearest existing folder, "/" for
// "/nonexistent/x", and a link's as where it leads; what was seen was said only in a note on
// stderr, and only the first 100 notes are shown: a plugin that first read 150 files of /proc
// (a note each) had plug suggest print read "/" with no word of why. Now the reason of a value
// wider than what was seen names what was seen.
Deno.test("r123: plug suggest says in the manifest what a value wider than what was seen stands for", async () => {
  await using dir = await tempFolder("plugbox-r123-suggest-");
  await Deno.mkdir(join(dir.path, "target"));
  await Deno.symlink(join(dir.path, "target"), join(dir.path, "innocent"));
  const suggest = async (paths: string[]) => {
    const run = await plug(["suggest", await savedAudit(dir.path, paths)]);
    assert.equal(run.code, 0, run.stderr);
    const read: { value: string; reason: string }[] = JSON.parse(run.stdout).permissions.read;
    return { read, stdout: run.stdout, stderr: run.stderr };
  };
  const missing = `/nonexistent-r123-${crypto.randomUUID()}/x`;
  const proc = Array.from({ length: 150 }, (_, i) => `/proc/${i + 1}/environ`);
  const wide = await suggest([...proc, missing]);
  assert.match(wide.stderr, /and \d+ more notes, not shown/);
  assert.doesNotMatch(wide.stderr, /nonexistent-r123/, "the note is past the 100 shown");
  assert.deepEqual(wide.read.map((r) => r.value), ["/"]);
  assert.ok(
    wide.read[0].reason.includes(`suggested for "${missing}", which does not exist here`),
    wide.stdout,
  );
  const linked = await suggest([join(dir.path, "innocent")]);
  assert.deepEqual(linked.read.map((r) => r.value), [join(dir.path, "target")]);
  assert.ok(
    linked.read[0].reason.includes(`suggested for "${join(dir.path, "innocent")}", a link to it`),
    linked.stdout,
  );
});

// plug approve showed 12 hex digits of the content it sealed. Whoever writes the folder between
// plug inspect and plug approve finds two contents whose hashes share 12 digits in about 2^24
// tries (review 94, of --expect): the approval showed the digits inspect had shown and sealed the
// other content. It shows the whole hash now, as inspect does.
Deno.test("r123: plug approve shows the whole content hash it seals, as plug inspect shows it", async () => {
  await using dir = await tempFolder("plugbox-r123-hash-");
  await Deno.mkdir(join(dir.path, "plugin"));
  const main = join(dir.path, "plugin", "main.ts");
  await Deno.writeTextFile(main, CONNECTOR);
  const inspected = await plug(["inspect", main, "--isolation=deno", "--json"]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const hash: string = JSON.parse(inspected.stdout).snapshot.hash;
  assert.match(hash, /^[0-9a-f]{64}$/);
  const run = await plug([
    "approve",
    main,
    `--lock=${join(dir.path, "plugbox.lock")}`,
    "--isolation=deno",
    "--dry-run",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.split("\n").includes(`  content  new: ${hash}`), run.stdout);
});

// A denied path that does not exist is suggested as its nearest existing folder, which plug
// suggest found by climbing one folder at a time, a lookup of the whole path at each: a plugin that
// read 1,024 paths of 2,000 names (one plug audit) held plug suggest for 43 s. It halves now, as
// canonicalLoose does: a dozen lookups a path. Counted, not timed.
Deno.test("r123: plug suggest looks up a deep denied path a few times, not once per folder", async () => {
  await using dir = await tempFolder("plugbox-r123-deep-");
  const paths = Array.from(
    { length: 64 },
    (_, i) => `${dir.path}/missing-${i}${"/a".repeat(1000)}`,
  );
  const saved = await savedAudit(dir.path, paths);
  const realPathSync = Deno.realPathSync;
  let lookups = 0;
  Deno.realPathSync = (path) => {
    lookups++;
    return realPathSync(path);
  };
  let run;
  try {
    run = await plug(["suggest", saved]);
  } finally {
    Deno.realPathSync = realPathSync;
  }
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout).permissions.read.map((r: { value: string }) => r.value), [
    dir.path,
  ]);
  assert.ok(lookups <= 64 * 16, `${lookups} lookups for 64 paths of 1,000 names`);
});

// Each value plug audit shows is the plugin's choice, up to 32 KB once escaped: 1,024 paths of
// 4,000 control characters made one plug audit print 16 MB to a terminal, and plug call --audit
// as much on stderr. The text view shows the first 300 characters of each, the cut marked; --json
// keeps them whole.
Deno.test("r123: plug audit shows a long value cut, and --json keeps it whole", async () => {
  await using dir = await tempFolder("plugbox-r123-long-");
  const paths = Array.from({ length: 16 }, (_, i) => `/r123-${i}${"\x01".repeat(4000)}`);
  const args = await touchArgs(dir.path, paths);
  const text = await plug(args);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split("\n").filter((line) => line.includes("/r123-"));
  assert.equal(lines.length, 16, text.stdout.slice(0, 2000));
  for (const line of lines) {
    assert.ok(line.length < 1000, `a line of ${line.length} characters`);
    assert.match(line, /… \(\d+ more characters\)/);
  }
  const json = await plug([...args, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const values = JSON.parse(json.stdout).audit.entries.map((e: { value: string }) => e.value);
  assert.ok(values.every((v: string) => !v.startsWith("/r123-") || v.length > 4000), json.stderr);
});
