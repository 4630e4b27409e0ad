// Review 144: channels between plugins that plugbox did not grant. Two plugins of different names,
// in sandboxes of their own, each see files the other sees: the interpreter, its libraries, a file
// both are granted to read. The kernel keeps a lock, a lease and an inotify watch per file, not
// per sandbox: one plugin held a lock on such a file (or watched it be opened), and the other read
// the bit, under the OS layer, past every grant and mount. Each attack has a control that runs the
// same plugin without plugbox and shows the channel working.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPlugin } from "../../mod.ts";
import { within } from "../_helpers.ts";
import { ISOLATIONS } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const LOCKS = fileURLToPath(new URL("./plugins/r144_locks/main.py", import.meta.url));
const JS_LOCKS = fileURLToPath(new URL("./plugins/r144_js_locks.ts", import.meta.url));

/** What the reader asks of the file both see; under plugbox each answer must stay as it was. */
const READS = ["flock-test", "posix-test", "proc-locks"];

/** A plugin's attempts, as a function of their text. */
type Attempt = (what: string) => Promise<string>;

/** Reads every channel, sets every bit the writer can, reads again: what the reader saw before and after. */
async function passBits(
  writer: Attempt,
  reader: Attempt,
): Promise<{ before: string[]; after: string[]; set: string[] }> {
  const read = async () => {
    const seen: string[] = [];
    for (const what of READS) seen.push(await reader(what));
    return seen;
  };
  const before = await read();
  const set: string[] = [];
  for (const what of ["flock-hold", "posix-hold", "ofd-hold"]) set.push(await writer(what));
  return { before, after: await read(), set };
}

/** The same plugin, run by python3 without plugbox, answering attempts one at a time. */
async function plainPython(): Promise<{ attempt: Attempt } & AsyncDisposable> {
  const child = new Deno.Command("python3", {
    args: [LOCKS, "--plugbox-nonce=control"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let id = 0;
  const call = async (method: string, params: unknown) => {
    const line = { jsonrpc: "2.0", id: ++id, method, params };
    await writer.write(new TextEncoder().encode(JSON.stringify(line) + "\n"));
    while (!buffered.includes("\n")) {
      const { value, done } = await within(lines.read(), 30_000, "the control's answer");
      if (done) throw new Error("the control ended");
      buffered += value;
    }
    const [first, ...rest] = buffered.split("\n");
    buffered = rest.join("\n");
    return JSON.parse(first).result;
  };
  await call("$/initialize", { nonce: "control" });
  return {
    attempt: (what) => call("probe.attempt", [what]),
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      child.kill();
      await child.status;
      await lines.cancel().catch(() => {});
    },
  };
}

async function pythonPlugin(name: string) {
  return await startPlugin(LOCKS, { contracts: [Probe], isolation: "os", name });
}

Deno.test("r144 control: without plugbox two processes pass bits through locks on a file both only read", async () => {
  await using alice = await plainPython();
  await using bob = await plainPython();
  const { before, after, set } = await passBits(alice.attempt, bob.attempt);
  assert.deepEqual(set, ["flock: held", "posix: held", "ofd: held"]);
  assert.deepEqual(before.slice(0, 2), ["flock: free", "posix: free"]);
  assert.deepEqual(after.slice(0, 2), ["flock: busy", "posix: busy"]);
});

Deno.test("r144 [os]: a command plugin reads no bit another, of another name, sets by a lock on its interpreter", async () => {
  await using alice = await pythonPlugin("alice");
  await using bob = await pythonPlugin("bob");
  const a = alice.api(Probe);
  const b = bob.api(Probe);
  assert.equal(await a.attempt("path"), await b.attempt("path"), "both see one interpreter");
  const { before, after, set } = await passBits((w) => a.attempt(w), (w) => b.attempt(w));
  assert.deepEqual(after, before, `alice set ${set.join("; ")}`);
  for (const seen of after) assert.doesNotMatch(seen, /busy|OFDLCK|POSIX|FLOCK/, seen);
});

Deno.test("r144 [os]: a command plugin takes no lease and no notice, and its watch sees no other plugin's open", async () => {
  await using alice = await pythonPlugin("alice");
  await using bob = await pythonPlugin("bob");
  const a = alice.api(Probe);
  const b = bob.api(Probe);
  const quiet = await a.attempt("quiet-file");
  // A folder's notice (DN_ACCESS) tells it of every read there.
  assert.match(await a.attempt(`dnotify:${quiet}`), /^denied: PermissionError: \[Errno 1\]/);
  // inotify: a watch for reads of the interpreter saw bob open it.
  const watch = await a.attempt("inotify-watch");
  assert.equal(await b.attempt("open"), "opened");
  const count = watch === "inotify: watching" ? await a.attempt("inotify-count") : watch;
  assert.equal(count, "inotify: errno 13", "a watch for reads is refused");
  // A lease's break (SIGIO) tells its holder of another's open, and holds that open for 45 s
  // (last: an open of the file, its holder's own too, would wait out the break).
  assert.match(await a.attempt(`lease-hold:${quiet}`), /^denied: PermissionError: \[Errno 13\]/);
});

Deno.test("r144 [os]: a command plugin's own SQLite keeps its journal, and WAL without shared memory", async () => {
  await using alice = await pythonPlugin("alice");
  const a = alice.api(Probe);
  assert.equal(await a.attempt("sqlite:delete"), "sqlite: delete, 1 row");
  assert.equal(await a.attempt("sqlite:wal+exclusive"), "sqlite: wal, 1 row");
  // Documented cost: WAL over shared memory asks who holds a lock (F_GETLK), refused to native code.
  assert.equal(await a.attempt("sqlite:wal"), "denied: OperationalError: disk I/O error");
});

Deno.test("r144 control: without plugbox a lease, a notice and a watch for reads are had", async () => {
  await using alice = await plainPython();
  await using bob = await plainPython();
  const quiet = await alice.attempt("quiet-file");
  assert.equal(await alice.attempt(`dnotify:${quiet}`), "dnotify: watching");
  assert.equal(await alice.attempt("inotify-watch"), "inotify: watching");
  assert.equal(await bob.attempt("open"), "opened");
  assert.equal(await alice.attempt("inotify-count"), "inotify: events 1");
  assert.equal(await alice.attempt(`lease-hold:${quiet}`), "lease: held");
});

/** A file two Deno plugins are both granted to read, and nothing else. */
async function sharedFile(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r144-" }));
  const path = join(dir, "shared.txt");
  await Deno.writeTextFile(path, "read by both\n");
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

async function jsPlugin(name: string, isolation: string, file: string) {
  return await startPlugin(JS_LOCKS, {
    contracts: [Probe],
    isolation: isolation as "auto",
    name,
    permissions: { read: [file] },
    manifest: "ignore",
  });
}

for (const isolation of ISOLATIONS) {
  Deno.test(`r144 [${isolation}]: a read grant passes no bit between two plugins through Deno's file lock`, async () => {
    await using file = await sharedFile();
    await using alice = await jsPlugin("alice", isolation, file.path);
    await using bob = await jsPlugin("bob", isolation, file.path);
    const a = alice.api(Probe);
    const b = bob.api(Probe);
    const before = await b.attempt(`test|${file.path}`);
    const set = await a.attempt(`hold|${file.path}`);
    const after = await b.attempt(`test|${file.path}`);
    if (isolation === "deno") {
      // Documented: the Deno layer has no filter, and Deno's lock needs no more than a read.
      assert.deepEqual([before, set, after], ["lock: free", "lock: held", "lock: busy"]);
      return;
    }
    assert.equal(after, before, `alice: ${set}`);
    assert.doesNotMatch(after, /busy/);
    // Deno's watch for changes asks for no read events: it stays.
    assert.equal(await a.attempt(`watch|${file.path}`), "watch: made");
  });
}
