// plugbox.lock: a locked start runs only what was approved. Unchanged; code
// changed with the same permissions; code changed asking for more (refused,
// naming what is beyond); the host's grants widened; the lock tampered
// with; each policy; and the lock out of the plugin's reach.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  approvePlugin,
  type LockChange,
  LockError,
  type LockOptions,
  type Permissions,
  startPlugin,
} from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { claimPath, lockKey, updateLock } from "../../runner/sandbox/lock_file.ts";
import { tryClaim } from "../../runner/sandbox/claim_file.ts";
import { freshCache, rejected, within } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/", import.meta.url);

/** Manifest requests for any read, and any write: the host decides what is granted. */
const READS_ANY = [{ value: "*", reason: "reads what it is given" }];
const WRITES_ANY = [{ value: "*", reason: "writes what it is given" }];

/** A copy of the hello plugin in a fresh folder, with a lock path and a cache beside it. */
async function workspace() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-lock-" }));
  const plugin = join(dir, "hello");
  await Deno.mkdir(plugin);
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(new URL(file, HELLO), join(plugin, file));
  }
  await Deno.mkdir(join(dir, "data"));
  return {
    dir,
    main: join(plugin, "main.ts"),
    lock: join(dir, "plugbox.lock"),
    cacheDir: join(dir, "cache"),
    data: join(dir, "data"),
    manifest(permissions: Record<string, { value: string; reason: string }[]>) {
      return Deno.writeTextFile(join(plugin, "plugbox.json"), JSON.stringify({ permissions }));
    },
    change() {
      return Deno.writeTextFile(join(plugin, "main.ts"), "// a new version\n", { append: true });
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

type Space = Awaited<ReturnType<typeof workspace>>;

function start(space: Space, lock: Partial<LockOptions> = {}, permissions: Permissions = {}) {
  return startPlugin(space.main, {
    contracts: [Greeter],
    cacheDir: space.cacheDir,
    isolation: "deno",
    permissions,
    // This suite runs as root: a write grant then needs the acknowledgement (THREATS T21).
    unsafe: { writeAsRoot: true },
    lock: { path: space.lock, ...lock },
  });
}

function approve(space: Space, permissions: Permissions = {}) {
  return approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "deno",
    permissions,
    lock: { path: space.lock },
  });
}

async function refusal(promise: Promise<unknown>, reason: string): Promise<LockError> {
  const error = await rejected<LockError>(promise);
  assert.ok(error instanceof LockError, String(error));
  assert.equal(error.reason, reason, error.message);
  return error;
}

Deno.test("lock: a plugin never approved does not start", async () => {
  await using space = await workspace();
  const error = await refusal(start(space), "not-approved");
  assert.match(
    error.message,
    /is not approved in ".*plugbox\.lock"; review it and run plug approve/,
  );
});

Deno.test("lock: an approved plugin, unchanged, starts", async () => {
  await using space = await workspace();
  const approval = await approve(space);
  assert.equal(approval.previous, undefined);
  await using plugin = await start(space);
  assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a");
  assert.ok(plugin.plan.notes.includes("lock: approved, unchanged"));
});

Deno.test("lock: changed code asking for the same permissions starts under same-or-less, not under refuse", async () => {
  await using space = await workspace();
  await space.manifest({ read: READS_ANY });
  await approve(space, { read: [space.data] });
  await space.change();
  await using plugin = await start(space, {}, { read: [space.data] });
  assert.match(plugin.plan.notes.join("\n"), /content changed since approval; it asks for no more/);
  const error = await refusal(
    start(space, { policy: "refuse" }, { read: [space.data] }),
    "changed",
  );
  assert.match(
    error.message,
    /content changed since it was approved .* the policy refuses changes/,
  );
});

Deno.test("lock: changed code asking for more does not start, and the error names what is beyond", async () => {
  await using space = await workspace();
  await approve(space);
  await space.change();
  await space.manifest({ net: [{ value: "*", reason: "phones home" }] });
  const error = await refusal(start(space), "beyond-approval");
  assert.deepEqual(error.beyond, [{ in: "requests", kind: "net", value: "*" }]);
  assert.match(error.message, /asks for more than ".*plugbox\.lock" approved: requests net "\*"/);
});

Deno.test("lock: a refusal lists at most 20 of what is beyond the approval, each cut short", async () => {
  await using space = await workspace();
  await approve(space);
  await space.change();
  const read = Array.from({ length: 31 }, (_, i) => ({
    value: `/r${String(i).padStart(2, "0")}/${"d".repeat(400)}`,
    reason: "reads it",
  }));
  await space.manifest({ read });
  const error = await refusal(start(space), "beyond-approval");
  assert.equal(error.beyond.length, 31, "the field keeps them all");
  assert.match(error.message, /\.\.\.", 11 more; review it and run plug approve$/);
  assert.equal(error.message.match(/requests read/g)?.length, 20);
  assert.ok(error.message.length < 6000, `${error.message.length} characters`);
});

// The lock is read in a terminal or a diff; JSON.stringify leaves bidi and C1 characters raw.
Deno.test("lock: the file holds no raw bidi or control character from a manifest", async () => {
  await using space = await workspace();
  const value = "api.example.com\u202e\u009b2J\u2028\x7f:443";
  await space.manifest({ net: [{ value, reason: "phones home" }] });
  await approve(space);
  const text = await Deno.readTextFile(space.lock);
  assert.doesNotMatch(text, /[\u0080-\u009f\u202a-\u202e\u2028\u2029\u2066-\u2069\x7f]/);
  assert.deepEqual(JSON.parse(text).plugins.hello.requests.net, [value], "the same value, escaped");
  await using plugin = await start(space);
  assert.ok(plugin.plan.notes.includes("lock: approved, unchanged"));
});

Deno.test("lock: grants wider than approved are refused, narrower ones start", async () => {
  await using space = await workspace();
  await space.manifest({ read: READS_ANY });
  await Deno.mkdir(join(space.data, "inner"));
  await approve(space, { read: [join(space.data, "inner")] });
  const error = await refusal(start(space, {}, { read: [space.data] }), "beyond-approval");
  assert.deepEqual(error.beyond, [{ in: "grants", kind: "read", value: space.data }]);
  await using plugin = await start(space, {}, { read: [join(space.data, "inner")] });
  assert.ok(plugin.pid > 0);
});

// The lock holds the canonical grant of its approval; judging it again in today's view would let
// a link swapped in since make the approved spelling cover wherever the link leads (review 41).
Deno.test("lock: a grant that leads elsewhere than when approved is beyond the approval", async () => {
  await using space = await workspace();
  await space.manifest({ read: READS_ANY });
  const inner = join(space.data, "inner");
  await Deno.mkdir(inner);
  await Deno.mkdir(join(space.dir, "secret"));
  await approve(space, { read: [inner] });
  await Deno.remove(inner);
  await Deno.symlink(join(space.dir, "secret"), inner);
  for (const policy of ["refuse", "same-or-less"] as const) {
    const error = await refusal(start(space, { policy }, { read: [inner] }), "beyond-approval");
    assert.deepEqual(error.beyond, [{
      in: "grants",
      kind: "read",
      value: join(space.dir, "secret"),
    }]);
  }
});

// The same swap made by the plugin itself, through its write grant, under the OS layer: the next
// start is refused before any layer is chosen, so under each.
Deno.test("lock: a link the plugin put in its write grant does not aim the host's grant at another folder", async () => {
  await using space = await workspace();
  await space.manifest({
    read: READS_ANY,
    write: WRITES_ANY,
  });
  const inner = join(space.data, "in");
  await Deno.mkdir(inner);
  await Deno.mkdir(join(space.dir, "secret"));
  const permissions = { read: [inner], write: [space.data] };
  await approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "os",
    permissions,
    unsafe: { writeAsRoot: true },
    lock: { path: space.lock },
  });
  const first = await startPlugin(space.main, {
    contracts: [Greeter],
    cacheDir: space.cacheDir,
    isolation: "os",
    permissions,
    unsafe: { writeAsRoot: true },
    lock: { path: space.lock, policy: "refuse" },
  });
  await first.close();
  await Deno.remove(inner);
  await Deno.symlink(join(space.dir, "secret"), inner);
  for (const isolation of ["os", "landlock", "deno"] as const) {
    const error = await rejected(startPlugin(space.main, {
      contracts: [Greeter],
      cacheDir: space.cacheDir,
      isolation,
      permissions,
      unsafe: { writeAsRoot: true },
      lock: { path: space.lock, policy: "refuse" },
    }));
    assert.ok(error instanceof TypeError, `${isolation}: ${error}`);
    assert.match(error.message, /it leads through the link ".*\/data\/in" inside the write grant/);
  }
});

// Each approval reads the lock, changes its entry and writes it whole: two at once (parallel CI
// jobs) wrote back each other's entry as they had read it, and the last undid the first (review 42).
Deno.test("lock: approvals in parallel processes each keep their entry", async () => {
  await using space = await workspace();
  const cli = new URL("../../cli.ts", import.meta.url).pathname;
  const names = ["p0", "p1", "p2", "p3"];
  for (const name of names) {
    await Deno.mkdir(join(space.dir, name));
    for (const file of ["main.ts", "contract.ts"]) {
      await Deno.copyFile(new URL(file, HELLO), join(space.dir, name, file));
    }
  }
  for (let round = 0; round < 4; round++) {
    await Deno.remove(space.lock).catch(() => {});
    const runs = names.map((name) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          cli,
          "approve",
          join(space.dir, name, "main.ts"),
          `--lock=${space.lock}`,
          "--isolation=deno",
        ],
        env: { PLUGBOX_CACHE_DIR: space.cacheDir },
        stdout: "null",
        stderr: "piped",
      }).output()
    );
    for (const run of await Promise.all(runs)) {
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    }
    const lock = JSON.parse(await Deno.readTextFile(space.lock));
    assert.deepEqual(Object.keys(lock.plugins).sort(), names, `round ${round}`);
  }
});

const CHANGER = new URL("../fixtures/lock_changer.ts", import.meta.url).pathname;

/** A change of `space`'s lock, in a child process that holds its claim until killed. */
/** A changer's whole stdout, and when it has said "ready" (or ended without). */
function readUntilReady(stdout: ReadableStream<Uint8Array>) {
  let ready!: () => void;
  const readied = new Promise<void>((resolve) => ready = resolve);
  const all = (async () => {
    let said = "";
    for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
      said += text;
      if (said.includes("ready\n")) ready();
    }
    ready();
    return said;
  })();
  return { ready: readied, all };
}

async function holder(space: Space) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHANGER, space.lock, join(space.dir, "held"), "now", "hold"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("holding\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the holder ended first: ${said}`);
    said += value;
  }
  return {
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // ended
      }
      await reader.cancel();
      await child.status;
    },
  };
}

// A claim made as a file had to be judged abandoned and taken over once its maker died, and that
// takeover raced (reviews 44 to 46, a CI run). The kernel drops an OS lock with its process.
Deno.test("lock: a change killed while it held the claim leaves nothing in the way", async () => {
  await using space = await workspace();
  const claim = join(space.dir, ".plugbox.lock.claim");
  {
    await using _held = await holder(space);
  } // killed mid-change: its claim's file stays, unlocked
  assert.ok((await Deno.lstat(claim)).isFile);
  await approve(space);
  await using plugin = await start(space);
  assert.ok(plugin.plan.notes.includes("lock: approved, unchanged"));
  await assert.rejects(
    Deno.lstat(claim),
    Deno.errors.NotFound,
    "removed by the change that took it",
  );
});

// Review 47: the claim's file was kept between changes, and a plugin that may only read the lock's
// folder locked it and kept every approval waiting. Now it exists only while a change holds it.
Deno.test("lock: a plugin that locks every claim's file it can open does not stop approvals", async () => {
  await using space = await workspace();
  const grabber = join(space.dir, "grabber");
  await Deno.mkdir(grabber);
  await Deno.copyFile(new URL("contract.ts", HELLO), join(grabber, "contract.ts"));
  await Deno.writeTextFile(
    join(grabber, "plugbox.json"),
    JSON.stringify({ permissions: { read: [{ value: "*", reason: "reads the project" }] } }),
  );
  await Deno.writeTextFile(
    join(grabber, "main.ts"),
    `import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";
const claim = ${JSON.stringify(join(space.dir, ".plugbox.lock.claim"))};
const open: Deno.FsFile[] = [];
let held = 0;
setInterval(() => {
  try {
    if (open.length < 64) open.push(Deno.openSync(claim, { read: true }));
  } catch { /* none there */ }
  for (const file of open) {
    try { if (file.tryLockSync(true)) held++; } catch { /* closed */ }
  }
}, 1);
await serve(implement(Greeter, {
  sayHello: () => String(held),
  readGreeting: () => "",
}));
`,
  );
  // A cache of its own: one holding the sealing key may not be granted (review 92). And the
  // approvals' cache outside the folder it reads: a cache there is refused to later starts (review
  // 96: the plugin could read the key they are sealed with).
  await using own = await freshCache();
  await using sealing = await freshCache();
  const apart = { ...space, cacheDir: sealing.path };
  await using plugin = await startPlugin(join(grabber, "main.ts"), {
    contracts: [Greeter],
    cacheDir: own.path,
    isolation: "deno",
    permissions: { read: [space.dir] },
  });
  await plugin.api(Greeter).sayHello("x"); // running, and grabbing
  await space.manifest({ read: READS_ANY });
  for (let round = 0; round < 4; round++) {
    await approve(apart, round % 2 ? {} : { read: [space.data] });
  }
  await using started = await start(apart);
  assert.ok(started.plan.notes.includes("lock: approved, unchanged"));
});

// Review 42: two plug approve at once each wrote back the other's entry as read. Six changes race
// for the claim at the same instant, twice, then with 200 short changes each; none may run while
// another does.
Deno.test("lock: changes from six processes at once come one after another", async () => {
  await using space = await workspace();
  /** What six changers lined up to begin at once print (`rounds` as lock_changer's). */
  const sixAtOnce = async (...rounds: string[]) => {
    const changers = Array.from({ length: 6 }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CHANGER, space.lock, join(space.dir, "held"), "go", ...rounds],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn());
    const outputs = changers.map((changer) => readUntilReady(changer.stdout));
    await Promise.all(outputs.map((output) => output.ready));
    // Every one is started and waiting: the byte lets them all go within a moment of each other.
    await Promise.all(changers.map(async (changer) => {
      const writer = changer.stdin.getWriter();
      await writer.write(new Uint8Array([1]));
      await writer.close();
    }));
    const said = await Promise.all(outputs.map((output) => output.all));
    await Promise.all(changers.map((changer) => changer.status));
    return said.map((text) => text.replace(/^ready\n/, "").trim());
  };
  for (let trial = 0; trial < 2; trial++) {
    const said = await sixAtOnce();
    assert.deepEqual(said, Array(6).fill("ok"), `trial ${trial}: ${said.join(", ")}`);
  }
  // Then 200 short changes each: many hand-overs, each removing the claim's file others opened
  // (at 100 a claim held without its file still there passed: the race needs the many).
  const said = await sixAtOnce("200");
  assert.deepEqual(said, Array(6).fill("ok"), `short changes: ${said.join(", ")}`);
});

// Review 44: a change that was only slow (a stopped plug approve) lost its claim at 30 s, and two
// changes overlapped. A live holder is waited for, then the change is refused as busy. (Approvals
// wait 10 s; the change here waits half a second, the same code.)
Deno.test("lock: a claim held by a running process is waited for, then refused as busy", async () => {
  await using space = await workspace();
  await using _held = await holder(space);
  const began = performance.now();
  const busy = await refusal(updateLock(space.lock, "hello", () => {}, undefined, 500), "busy");
  assert.ok(performance.now() - began >= 500, "refused before its wait was over");
  assert.match(
    busy.message,
    /^Cannot change the lock for plugin "hello": another change of lock .* has held its claim ".*\.plugbox\.lock\.claim" for over 0\.5 s/,
  );
});

// A link planted where the claim's file goes would have the host make, open and lock a file
// anywhere it can reach.
Deno.test("lock: a link where the claim's file goes is refused", async () => {
  await using space = await workspace();
  const elsewhere = join(space.data, "elsewhere");
  await Deno.writeTextFile(elsewhere, "");
  await Deno.symlink(elsewhere, join(space.dir, ".plugbox.lock.claim"));
  const error = await rejected(approve(space));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(error.message, /\.plugbox\.lock\.claim" beside it is not a regular file/);
  await assert.rejects(Deno.stat(space.lock), Deno.errors.NotFound, "the lock was not written");
});

// Review 47: a FIFO swapped in at the claim's name between the look and the open blocked the host's
// event loop in open() for good. The claim's file is opened for reading and writing, which never
// blocks. The changes run in a child process: a blocked open would block this test's timers too.
Deno.test("lock: a FIFO swapped in at the claim's name never blocks a change", async () => {
  await using space = await workspace();
  const claim = join(space.dir, ".plugbox.lock.claim");
  const swapper = new Deno.Command("python3", {
    args: [new URL("../fixtures/claim_swapper.py", import.meta.url).pathname, claim],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const swapping = swapper.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    assert.match((await swapping.read()).value ?? "", /^swapping/);
    const claimer = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../fixtures/lock_claimer.ts", import.meta.url).pathname,
        space.lock,
        ...["3000", "8"], // 3,000 changes, or as many as 8 s hold
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const timer = setTimeout(() => claimer.kill("SIGKILL"), 30_000);
    const said = new TextDecoder().decode((await claimer.output()).stdout);
    clearTimeout(timer);
    assert.match(said, /^done \d+/, "the changes ended (a blocked open is killed at 30 s)");
  } finally {
    swapper.kill("SIGKILL");
    await swapping.cancel();
    await swapper.status;
  }
});

// Review 47: a write grant naming the claim's file let a plugin remove it while a change held it,
// and the next change made another and ran at the same time.
Deno.test("lock: a write grant over the claim's file is refused, and a grant over the sealing key", async () => {
  await using space = await workspace();
  await space.manifest({
    read: READS_ANY,
    write: WRITES_ANY,
  });
  const claim = join(space.dir, ".plugbox.lock.claim");
  await Deno.writeTextFile(claim, ""); // as a change killed mid-way leaves it
  const over = await rejected<TypeError>(start(space, {}, { write: [claim] }));
  assert.ok(over instanceof TypeError, String(over));
  assert.match(over.message, /covers ".*\.plugbox\.lock\.claim", where changes of the lock/);
  const key = await rejected<TypeError>(start(space, {}, { read: [space.cacheDir] }));
  assert.ok(key instanceof TypeError, String(key));
  assert.match(
    key.message,
    /covers plugbox's sealing key ".*lock\.key", and the plugin could seal/,
  );
  // A lock given its own key has no key file to read.
  await approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "deno",
    permissions: { read: [space.cacheDir] },
    lock: { path: space.lock, key: "a key of sixteen or more" },
  });
});

// Review 47: the claim's file was made before the lock's path was looked at, so a folder given as
// the lock left one in its parent; a link leading nowhere was replaced by the lock's file.
Deno.test("lock: a lock path that is a folder or a link to nowhere is refused, and nothing is made beside it", async () => {
  await using space = await workspace();
  const folder = join(space.dir, "a-folder");
  await Deno.mkdir(folder);
  const nowhere = join(space.dir, "nowhere.lock");
  await Deno.symlink(join(space.dir, "missing", "plugbox.lock"), nowhere);
  for (
    const [path, said] of [[folder, "not a regular file"], [nowhere, "a link that leads nowhere"]]
  ) {
    const error = await rejected(approvePlugin(space.main, {
      cacheDir: space.cacheDir,
      isolation: "deno",
      lock: { path },
    }));
    assert.ok(error instanceof TypeError, String(error));
    assert.match(
      error.message,
      new RegExp(`^Cannot change lock ".*": it is ${said}; name the lock file itself$`),
    );
  }
  const made = [];
  for await (const entry of Deno.readDir(space.dir)) made.push(entry.name);
  assert.deepEqual(made.filter((name) => name.endsWith(".claim")), []);
  assert.ok((await Deno.lstat(nowhere)).isSymlink, "the link is left as it was");
});

Deno.test("lock: an entry changed outside plug approve is refused as tampered, whatever it says", async () => {
  await using space = await workspace();
  await space.manifest({ read: READS_ANY });
  await approve(space);
  const text = await Deno.readTextFile(space.lock);
  // Widen the approval by hand: the seal no longer matches.
  await Deno.writeTextFile(
    space.lock,
    text.replace('"read": []', `"read": [${JSON.stringify(space.data)}]`),
  );
  const error = await refusal(start(space, {}, { read: [space.data] }), "tampered");
  assert.match(error.message, /does not carry plugbox's seal/);
  // Re-approving replaces it, and says the old one had been changed.
  const approval = await approve(space, { read: [space.data] });
  assert.equal(approval.previousTampered, true);
  // What it said approved nothing: the grant counts as added, not as already approved, and its
  // values were never compared one by one (review 58: a crafted entry took 10 s).
  assert.deepEqual(
    approval.added.filter((d) => d.in === "grants"),
    [{ in: "grants", kind: "read", value: space.data }],
  );
  assert.deepEqual(approval.removed, []);
  await using plugin = await start(space, {}, { read: [space.data] });
  assert.ok(plugin.pid > 0);
});

Deno.test("lock: a lock sealed with another key is refused; the same key shared works", async () => {
  await using space = await workspace();
  await approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "deno",
    lock: { path: space.lock, key: "a shared secret for CI" },
  });
  await refusal(start(space), "tampered");
  await using plugin = await start(space, { key: "a shared secret for CI" });
  assert.ok(plugin.pid > 0);
});

Deno.test("lock: a malformed lock is refused, naming the field", async () => {
  await using space = await workspace();
  await Deno.writeTextFile(
    space.lock,
    JSON.stringify({ version: 1, plugins: { hello: { root: 1 } } }),
  );
  const error = await refusal(start(space), "malformed");
  assert.match(error.message, /is malformed at plugins\.hello\.root/);
  await Deno.writeTextFile(space.lock, "{not json");
  await refusal(start(space), "malformed");
  // The lock's keys are text whoever can write it wrote: the message carries them neutralised.
  await Deno.writeTextFile(
    space.lock,
    JSON.stringify({ version: 1, plugins: { "x\n\x1b[2Jok": 1 } }),
  );
  const keyed = await refusal(start(space), "malformed");
  assert.match(keyed.message, /is malformed at plugins\.x\\x0a\\x1b\[2Jok/);
  assert.ok(![...keyed.message].some((c) => c < " "), keyed.message);
  // An unknown key is quoted in zod's own message: neutralised too (review 58).
  await Deno.writeTextFile(
    space.lock,
    JSON.stringify({ version: 1, plugins: {}, "x\u001b[31mRED\nLockError: forged": 1 }),
  );
  const unknown = await refusal(start(space), "malformed");
  assert.match(unknown.message, /x\\x1b\[31mRED\\x0aLockError: forged/);
  assert.ok(![...unknown.message].some((c) => c < " "), unknown.message);
});

Deno.test("lock: a lock reached through a link into /proc, or empty, is refused unread", async () => {
  // /proc's files say size 0 and go on (pagemap: gigabytes; kmsg: a read that never ends).
  await using space = await workspace();
  await Deno.symlink("/proc/self/status", space.lock);
  const linked = await refusal(start(space), "malformed");
  assert.match(linked.message, /must be a regular file of 1 to \d+ bytes/);
  await Deno.remove(space.lock);
  await Deno.writeTextFile(space.lock, "");
  const empty = await refusal(start(space), "malformed");
  assert.match(empty.message, /must be a regular file of 1 to \d+ bytes/);
});

Deno.test("lock: policy ask decides each change; a yes is recorded, a no refuses", async () => {
  await using space = await workspace();
  const changes: LockChange[] = [];
  const ask = (answer: boolean) => (change: LockChange) => {
    changes.push(change);
    return Promise.resolve(answer);
  };
  await refusal(start(space, { policy: "ask", ask: ask(false) }), "declined");
  await using first = await start(space, { policy: "ask", ask: ask(true) });
  assert.equal(changes[1].previous, undefined);
  await using again = await start(space, { policy: "ask", ask: ask(false) });
  assert.equal(changes.length, 2, "an unchanged plugin is not asked about");
  await space.change();
  await space.manifest({ env: [{ value: "TOKEN", reason: "signs requests" }] });
  await refusal(start(space, { policy: "ask", ask: ask(false) }), "declined");
  assert.deepEqual(changes[2].beyond, [{ in: "requests", kind: "env", value: "TOKEN" }]);
  assert.equal(changes[2].contentChanged, true);
  assert.ok(first.pid > 0 && again.pid > 0);
});

/**
 * A start under policy "ask" whose host answers `answer` (a promise the test settles), with the
 * signal `stop` gives; `asked` resolves when the host is asked. The start settles with "started"
 * or its error.
 */
function askingStart(
  space: { main: string; cacheDir: string; lock: string },
  answer: Promise<boolean>,
  stop: AbortController,
) {
  const asked = Promise.withResolvers<void>();
  const starting = startPlugin(space.main, {
    contracts: [Greeter],
    cacheDir: space.cacheDir,
    isolation: "deno",
    lock: {
      path: space.lock,
      policy: "ask",
      ask: () => {
        asked.resolve();
        return answer;
      },
    },
    signal: stop.signal,
  }).then(() => "started", (error) => error);
  return { asked: asked.promise, starting };
}

Deno.test("lock: a start stopped while ask decides rejects with the signal's reason at once, and holds no claim", async () => {
  await using space = await workspace();
  const answer = Promise.withResolvers<boolean>(); // the host's answer, given after the stop
  const stop = new AbortController();
  const { asked, starting } = askingStart(space, answer.promise, stop);
  try {
    await within(asked, 20_000, "the host to be asked");
    const reason = new DOMException("The plugin was stopped", "AbortError");
    stop.abort(reason);
    assert.equal(await within(starting, 5_000, "the start to end at the abort"), reason);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(space.dir)).then((e) => e.map((x) => x.name).sort()),
      ["cache", "data", "hello"],
      "no lock written, no claim held",
    );
  } finally {
    answer.resolve(false); // after the stop: a no, so that nothing starts without the fix either
    await starting;
  }
});

// Left at review 59: once ask approved, the wait for the lock's claim (another change holding it)
// went on for up to 10 s after a stop.
Deno.test("lock: a start stopped while another change holds the lock's claim rejects at once, and records nothing", async () => {
  await using space = await workspace();
  const held = tryClaim(claimPath(space.lock), (detail) => new Error(detail))!;
  const answer = Promise.withResolvers<boolean>();
  const stop = new AbortController();
  const { asked, starting } = askingStart(space, answer.promise, stop);
  try {
    await within(asked, 20_000, "the host to be asked");
    answer.resolve(true);
    // From the yes to the claim's first try is promise reactions only: after one turn of the event
    // loop, the start waits for the claim.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const reason = new DOMException("The plugin was stopped", "AbortError");
    stop.abort(reason);
    assert.equal(await within(starting, 5_000, "the start to end at the abort"), reason);
  } finally {
    held.release();
    await starting;
  }
  assert.equal(await Deno.stat(space.lock).then(() => "written", () => "none"), "none");
});

Deno.test("lock: it cannot lie in the plugin's folder, nor under a write grant", async () => {
  await using space = await workspace();
  await space.manifest({ write: WRITES_ANY });
  const inside = await rejected<TypeError>(
    start(space, { path: join(space.dir, "hello", "plugbox.lock") }),
  );
  assert.ok(inside instanceof TypeError);
  assert.match(inside.message, /lies in the plugin's folder/);
  const under = await rejected<TypeError>(
    start(space, { path: join(space.data, "plugbox.lock") }, { write: [space.data] }),
  );
  assert.ok(under instanceof TypeError);
  assert.match(under.message, /covers the lock .* could approve itself/);
});

Deno.test("lock: a lock spelled through a link into the plugin's folder, or into a write grant, is refused the same", async () => {
  // One canonical path (THREATS T15): the lock's path is compared as the folder it really is.
  await using space = await workspace();
  await space.manifest({ write: WRITES_ANY });
  await Deno.symlink(join(space.dir, "hello"), join(space.dir, "alias"));
  await Deno.symlink(space.data, join(space.dir, "data-alias"));
  const inside = await rejected<TypeError>(
    start(space, { path: join(space.dir, "alias", "plugbox.lock") }),
  );
  assert.ok(inside instanceof TypeError, String(inside));
  assert.match(inside.message, /lies in the plugin's folder/);
  const under = await rejected<TypeError>(
    start(space, { path: join(space.dir, "data-alias", "plugbox.lock") }, { write: [space.data] }),
  );
  assert.ok(under instanceof TypeError, String(under));
  assert.match(under.message, /covers the lock .* could approve itself/);
});

Deno.test("approvePlugin() reports what was added and removed, and a dry run writes nothing", async () => {
  await using space = await workspace();
  await space.manifest({ read: READS_ANY });
  const first = await approve(space, { read: [space.data] });
  assert.deepEqual(first.added, [
    { in: "requests", kind: "read", value: "*" },
    { in: "grants", kind: "read", value: space.data },
  ]);
  const before = await Deno.readTextFile(space.lock);
  await space.change();
  const dry = await approvePlugin(space.main, {
    cacheDir: space.cacheDir,
    isolation: "deno",
    lock: { path: space.lock },
    dryRun: true,
  });
  assert.equal(dry.contentChanged, true);
  assert.deepEqual(dry.removed, [{ in: "grants", kind: "read", value: space.data }]);
  assert.equal(await Deno.readTextFile(space.lock), before);
});

// Review 54: the key file was made, then written: another host read it empty in between ("is not
// 64 hex digits; remove it"), and a host killed there left it empty for good.
Deno.test("lock: hosts making the sealing key at once all get the one key, whole", async () => {
  const base = await Deno.makeTempDir();
  try {
    const runs = await Promise.all([0, 1, 2].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", new URL("../fixtures/lock_key_host.ts", import.meta.url).pathname],
          ...[base, "3000"],
        ],
        stdout: "piped",
      }).output()
    ));
    const got = runs.map((run) => JSON.parse(new TextDecoder().decode(run.stdout)));
    assert.deepEqual(got.map((one) => one.failed), [0, 0, 0]);
    assert.deepEqual(got[1].keys, got[0].keys, "one key per cache");
    assert.deepEqual(got[2].keys, got[0].keys, "one key per cache");
    const left = (await Array.fromAsync(Deno.readDir(join(base, "c0")))).map((e) => e.name);
    assert.deepEqual(left, ["lock.key"], "no key half made is left");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

// Review 55: a key file that is a link leading nowhere could be neither read nor made, and lockKey
// called itself until the stack ran out, leaving a new key file a call. Review 56: a FIFO there held
// every read for good; a link to another user's file, or a file others may read, gave them the key
// that seals approvals.
Deno.test("lock: a sealing key file that is not this user's own regular file is refused by name, at once", async () => {
  const cache = await Deno.makeTempDir();
  const path = join(cache, "lock.key");
  const key = "ab".repeat(32) + "\n";
  const cases: [string, () => Promise<void>, string][] = [
    ["a link leading nowhere", () => Deno.symlink(join(cache, "gone"), path), "is a link"],
    ["a link to a key", async () => {
      await Deno.writeTextFile(join(cache, "other"), key, { mode: 0o600 });
      await Deno.symlink(join(cache, "other"), path);
    }, "is a link"],
    ["a FIFO", async () => {
      assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success);
    }, "is not a regular file"],
    ["a folder", () => Deno.mkdir(path), "is not a regular file"],
    ["a key others may read", async () => {
      await Deno.writeTextFile(path, key);
      await Deno.chmod(path, 0o644);
    }, "may be read or changed by other users"],
    ["another user's key", async () => {
      await Deno.writeTextFile(path, key, { mode: 0o600 });
      await Deno.chown(path, 65534, 65534);
    }, "is another user's (uid 65534)"],
  ];
  try {
    for (const [what, plant, said] of cases) {
      await plant();
      assert.throws(
        () => lockKey(cache),
        new TypeError(
          `Cannot use the lock: key file "${path}" ${said}; remove it (approvals sealed with it ` +
            `must then be made again), or give the lock its own "key"`,
        ),
        what,
      );
      await Deno.remove(path);
      await Deno.remove(join(cache, "other")).catch(() => {});
      assert.deepEqual(await Array.fromAsync(Deno.readDir(cache)), [], `${what}: nothing left`);
    }
    const made = lockKey(cache);
    assert.match(made, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    assert.equal(lockKey(cache), made, "its own key is read back");
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
