// Review 152: honest plugins under the filter reviews 143, 144 and 148 tightened. Ordinary
// standard-library work (SQLite in each journal mode, a writer killed inside its transaction, file
// locks, dbm and shelve, multiprocessing, threads, rotating logs, temporary files, subprocesses)
// and Deno's own (FsFile.lock, node:sqlite, watchFs, a granted program), each in a folder the
// plugin was granted to write. Each outcome is the one README states ("No file lock, lease or
// folder notice"): what works, and what fails, loudly, as the price of closing review 144's
// channels. The control runs the same Python without plugbox: every refusal here is plugbox's.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";

const HONEST = fileURLToPath(new URL("./plugins/r152_honest/main.py", import.meta.url));
const JS_HONEST = fileURLToPath(new URL("./plugins/r152_honest.ts", import.meta.url));

/** A folder for the plugin to write, removed after. */
async function folder(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r152-" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** What works the same with and without plugbox, with a write grant where the work writes. */
const PYTHON_WORKS: [string, string][] = [
  ["sqlite-delete:", "sqlite: delete, 2 rows"],
  ["sqlite-truncate:", "sqlite: truncate, 2 rows"],
  // An exclusive VFS asks no other process about locks: crash recovery, PERSIST and WAL work.
  ["sqlite-persist@unix-excl:", "sqlite: persist, 2 rows"],
  ["sqlite-wal@unix-excl:", "sqlite: wal, 2 rows"],
  ["crash-delete@unix-excl:", "crashed (9, left -journal): 1 rows"],
  ["lockf:", "lockf: held"],
  ["dbm.dumb:", "dbm.dumb: v"],
  ["shelve:", "shelve: [1, 2]"],
  ["rotating:", "rotating: ['r152.log', 'r152.log.1', 'r152.log.2']"],
  ["pool", "pool: 285"],
  ["queue", "queue: 7"],
  ["small-threads:500", "threads: 500"],
  ["tempfile", "tempfile: 1"],
  ["subprocess", "subprocess: 42"],
];

/** Attempts whose folder is the granted one (`kind:` ends with the colon). */
function at(attempt: string, granted: string): string {
  return attempt.endsWith(":") ? attempt + granted : attempt;
}

Deno.test("r152 control: without plugbox a killed writer's journal is rolled back, and every lock, journal and thread count works", async () => {
  await using dir = await folder();
  const attempts = [
    ...PYTHON_WORKS.map(([attempt]) => attempt),
    "flock:",
    "sqlite-persist:",
    "sqlite-wal:",
    "crash-delete:",
    "threads:100",
  ];
  const script = "import json, sys; sys.path.insert(0, sys.argv[1]); import main\n" +
    "print(json.dumps([main.attempt(a) for a in sys.argv[2:]]))";
  const { code, stdout } = await new Deno.Command("python3", {
    args: [
      "-c",
      script,
      fileURLToPath(new URL(".", `file://${HONEST}`)),
      ...attempts.map((a) => at(a, dir.path)),
    ],
    stderr: "inherit",
  }).output();
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), [
    ...PYTHON_WORKS.map(([, outcome]) => outcome),
    "flock: held",
    "sqlite: persist, 2 rows",
    "sqlite: wal, 2 rows",
    "crashed (9, left -journal): 1 rows",
    "threads: 100",
  ]);
});

Deno.test("r152 [os]: a Python plugin's ordinary work runs, and what the filter refuses fails loudly", async () => {
  await using dir = await folder();
  await using plugin = await startPlugin(HONEST, {
    contracts: [Probe],
    isolation: "os",
    name: "honest",
    manifest: "ignore",
    permissions: { write: [dir.path] },
    unsafe: { writeAsRoot: true },
    cpu: { maxTasks: 1024 }, // 500 threads: more than its share of the machine's (review 164)
  });
  const probe = plugin.api(Probe);
  for (const [attempt, outcome] of PYTHON_WORKS) {
    assert.equal(await probe.attempt(at(attempt, dir.path)), outcome, attempt);
  }
  // Documented: flock answers ENOLCK under both OS layers (record locks, lockf, stay).
  assert.equal(
    await probe.attempt(`flock:${dir.path}`),
    "failed: OSError: [Errno 37] No locks available",
  );
  // Documented: SQLite asks who holds a lock (F_GETLK) before it reads past a journal left on disk
  // (PERSIST keeps it; a writer killed in its transaction leaves it hot) and before it maps WAL's
  // shared memory. Refused to native code, each is a disk I/O error, never a read of a torn file.
  const ioError = "failed: OperationalError: disk I/O error";
  assert.equal(await probe.attempt(`sqlite-persist:${dir.path}`), ioError);
  assert.equal(await probe.attempt(`sqlite-wal:${dir.path}`), ioError);
  assert.equal(await probe.attempt(`crash-delete:${dir.path}`), ioError);
  // Documented: each thread's stack (8 MiB, from RLIMIT_STACK) counts against the memory cap.
  assert.equal(await probe.attempt("threads:100"), "failed: RuntimeError: can't start new thread");
});

/** The Deno plugin under `isolation`, granted to write `write`, and with `run` to run sh. */
async function jsPlugin(isolation: "os" | "landlock", write: string, run: boolean) {
  return await startPlugin(JS_HONEST, {
    contracts: [Probe],
    isolation,
    name: "honest",
    manifest: "ignore",
    permissions: { read: [write], write: [write], ...(run ? { run: ["/usr/bin/sh"] } : {}) },
    unsafe: { writeAsRoot: true, ...(run ? { run: true } : {}) },
  });
}

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r152 [${isolation}]: a Deno plugin keeps node:sqlite in every journal mode and watchFs, not FsFile.lock`, async () => {
    await using dir = await folder();
    await using plugin = await jsPlugin(isolation, dir.path, false);
    const probe = plugin.api(Probe);
    const attempt = (kind: string) => probe.attempt(`${kind}|${dir.path}`);
    assert.equal(await attempt("sqlite-delete"), "sqlite: delete, 2 rows");
    assert.equal(await attempt("sqlite-persist"), "sqlite: persist, 2 rows");
    assert.equal(await attempt("sqlite-wal"), "sqlite: wal, 2 rows");
    assert.equal(await attempt("watch"), "watch: saw a create");
    // Documented: Deno's lock is flock, which answers ENOLCK under both OS layers.
    assert.equal(await attempt("lock"), "failed: Error: No locks available (os error 37)");
  });

  Deno.test(`r152 [${isolation}]: a run grant's Deno plugin loses SQLite's PERSIST and WAL and Deno's watchFs, loudly`, async () => {
    await using dir = await folder();
    await using plugin = await jsPlugin(isolation, dir.path, true);
    const probe = plugin.api(Probe);
    const attempt = (kind: string) => probe.attempt(`${kind}|${dir.path}`);
    assert.equal(await attempt("run"), "run: 42");
    assert.equal(await attempt("sqlite-delete"), "sqlite: delete, 2 rows");
    assert.equal(await attempt("sqlite-truncate"), "sqlite: truncate, 2 rows");
    // Documented: native code asks no one of a lock (F_GETLK), nor watches for opens (IN_OPEN,
    // which Deno's watch asks for): the Deno process and its programs share one filter.
    assert.equal(await attempt("sqlite-persist"), "failed: Error: disk I/O error");
    assert.equal(await attempt("sqlite-wal"), "failed: Error: disk I/O error");
    assert.match(
      await attempt("watch"),
      /^failed: PermissionDenied: Permission denied \(os error 13\)/,
    );
  });
}

Deno.test("r152 [os]: unsafe.lockQueries gives a Python plugin SQLite's crash recovery, PERSIST and WAL, and nothing more", async () => {
  await using dir = await folder();
  await using plugin = await startPlugin(HONEST, {
    contracts: [Probe],
    isolation: "os",
    name: "honest",
    manifest: "ignore",
    permissions: { write: [dir.path] },
    unsafe: { writeAsRoot: true, lockQueries: true },
  });
  const probe = plugin.api(Probe);
  assert.equal(
    await probe.attempt(`crash-delete:${dir.path}`),
    "crashed (9, left -journal): 1 rows",
  );
  assert.equal(await probe.attempt(`sqlite-persist:${dir.path}`), "sqlite: persist, 2 rows");
  assert.equal(await probe.attempt(`sqlite-wal:${dir.path}`), "sqlite: wal, 2 rows");
  assert.equal(await probe.attempt(`crash-wal:${dir.path}`), "crashed (9, left -wal): 1 rows");
  assert.equal(
    await probe.attempt(`flock:${dir.path}`),
    "failed: OSError: [Errno 37] No locks available",
  );
});

for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`r152 [${isolation}]: unsafe.lockQueries gives a run grant's Deno plugin node:sqlite's PERSIST and WAL, not watchFs`, async () => {
    await using dir = await folder();
    await using plugin = await startPlugin(JS_HONEST, {
      contracts: [Probe],
      isolation,
      name: "honest",
      manifest: "ignore",
      permissions: { read: [dir.path], write: [dir.path], run: ["/usr/bin/sh"] },
      unsafe: { writeAsRoot: true, run: true, lockQueries: true },
    });
    const probe = plugin.api(Probe);
    const attempt = (kind: string) => probe.attempt(`${kind}|${dir.path}`);
    assert.equal(await attempt("sqlite-persist"), "sqlite: persist, 2 rows");
    assert.equal(await attempt("sqlite-wal"), "sqlite: wal, 2 rows");
    assert.match(await attempt("watch"), /^failed: PermissionDenied/);
  });
}

Deno.test("r152 [os]: unsafe.lockQueries costs what it says: its plugin reads the bit another's native code sets by a lock", async () => {
  const locks = fileURLToPath(new URL("./plugins/r144_locks/main.py", import.meta.url));
  const start = (name: string, lockQueries: boolean) =>
    startPlugin(locks, { contracts: [Probe], isolation: "os", name, unsafe: { lockQueries } });
  await using alice = await start("alice", false);
  await using bob = await start("bob", true);
  const a = alice.api(Probe);
  const b = bob.api(Probe);
  assert.equal(await b.attempt("posix-test"), "posix: free");
  assert.equal(await a.attempt("posix-hold"), "posix: held");
  assert.equal(await b.attempt("posix-test"), "posix: busy");
  // alice asked for no lock queries: she reads none of bob's.
  assert.equal(await b.attempt("posix-hold"), "posix: held");
  assert.match(await a.attempt("posix-test"), /^denied: OSError: \[Errno 37\]/);
});
