// Review 171: review 170's sweep of egress socket folders no process holds. It took any folder of
// the shape, whoever made it: in /tmp (the socket's folder where the cache's path is too long),
// which every user may write, a root host emptied and removed another user's, and that user could
// swap its folder for a link between the lock and the removal, so root removed a file named `s`
// in any folder (this machine's fs.protected_symlinks is 0). It now takes only its own user's
// folders, which in a sticky folder no one else may move. And a host whose own new folder a sweep
// held tried its lock three times at once and failed its start; it now waits for the lock, a
// sweep's moment. Its sweep ran on the start's path whatever it found: each folder costs about 2
// ms of the host's thread (its inode freed at the close), and 5,000 took 8.9 s; it now removes at
// most SWEEP_MOST a start. And review 169's limit of pending signals was set, never lowered only: under a
// host whose hard limit was lower, every start of native code was refused; it now keeps the host's.
import assert from "node:assert/strict";
import { join } from "node:path";
import { holdSocketFolder, SWEEP_MOST } from "../../runner/host/egress_socket.ts";
import { PENDING_SIGNALS, prologue } from "../../runner/sandbox/prologue.ts";
import { EXEC_MARK } from "../../runner/sandbox/start_verdict.ts";
import { exists, within } from "../_helpers.ts";
import { tempDir } from "./_hostile.ts";

Deno.test("r171: a host's sweep leaves a socket folder of another user's, and follows no link", async () => {
  await using parent = await tempDir();
  Deno.chmodSync(parent.path, 0o1777); // as /tmp
  const foreign = join(parent.path, "held-aaaaaaaaaaaaaaaa");
  Deno.mkdirSync(foreign);
  Deno.writeTextFileSync(join(foreign, "s"), "another user's");
  Deno.chownSync(join(foreign, "s"), 65534, 65534);
  Deno.chownSync(foreign, 65534, 65534);
  // A link of the shape to a folder holding an `s`: never entered.
  const elsewhere = join(parent.path, "elsewhere");
  Deno.mkdirSync(elsewhere);
  Deno.writeTextFileSync(join(elsewhere, "s"), "not a socket");
  Deno.symlinkSync(elsewhere, join(parent.path, "held-dddddddddddddddd"));
  // A dead host's of this user: the sweep ran.
  const dead = join(parent.path, "held-bbbbbbbbbbbbbbbb");
  Deno.mkdirSync(dead);
  Deno.writeTextFileSync(join(dead, "s"), "");
  const held = holdSocketFolder(join(parent.path, "held-cccccccccccccccc", "s"));
  try {
    assert.ok(!exists(dead), "this user's dead folder is swept");
    // Before: the foreign folder and its `s` were removed.
    assert.ok(exists(join(foreign, "s")), "another user's folder and what it holds stay");
    assert.ok(exists(join(elsewhere, "s")), "nothing is removed through a link");
  } finally {
    held.close();
  }
});

/** Makes `dir`, locks it as a sweep does, and lets go only once another process waits for it. */
const SWEEPER = `
const dir = Deno.args[0];
Deno.mkdirSync(dir, { mode: 0o700 });
const file = Deno.openSync(dir, { read: true });
file.lockSync(true);
const ino = file.statSync().ino;
console.log("held");
const waiter = new RegExp(\`-> FLOCK .* [0-9a-f]+:[0-9a-f]+:\${ino} \`);
const deadline = Date.now() + 20_000;
let waited = false;
while (!waited && Date.now() < deadline) {
  waited = waiter.test(Deno.readTextFileSync("/proc/locks"));
  if (!waited) await new Promise((resolve) => setTimeout(resolve, 5));
}
Deno.removeSync(dir);
file.close();
console.log(waited ? "removed with a waiter" : "removed, no waiter seen");
`;

Deno.test("r171: a host whose new socket folder a sweep holds waits for it and makes it anew", async () => {
  await using parent = await tempDir();
  const dir = join(parent.path, "held-eeeeeeeeeeeeeeee");
  const sweeper = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", SWEEPER, dir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = sweeper.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("held\n")) {
    const { value, done } = await within(lines.read(), 20_000, "the sweeper's lock");
    if (done) break;
    said += value;
  }
  assert.ok(said.includes("held\n"), said);
  let held: Deno.FsFile | undefined;
  try {
    // Before: "Cannot lock the egress socket's folder …", three tries within the sweep's hold.
    try {
      held = holdSocketFolder(join(dir, "s"));
    } catch (error) {
      sweeper.kill("SIGKILL"); // no waiter will come
      throw error;
    }
    assert.equal(held.statSync().ino, Deno.lstatSync(dir).ino, "its own folder, made anew");
    const other = Deno.openSync(dir, { read: true });
    try {
      assert.equal(other.tryLockSync(true), false, "held locked");
    } finally {
      other.close();
    }
  } finally {
    held?.close();
    while (true) {
      const { value, done } = await within(lines.read(), 30_000, "the sweeper's end");
      if (done) break;
      said += value;
    }
    await sweeper.status;
  }
  assert.ok(said.includes("removed with a waiter"), said);
});

Deno.test("r171: native code starts under a host whose hard limit of pending signals is below plugbox's, and keeps it", async () => {
  const argv = prologue("/bin/sh", {
    limits: { dataLimitBytes: 1 << 30, pendingSignals: PENDING_SIGNALS },
    marksExec: true,
  });
  const low = PENDING_SIGNALS / 2;
  const { code, stdout, stderr } = await within(
    new Deno.Command("prlimit", {
      args: [`--sigpending=${low}:${low}`, "--", ...argv, "/bin/sh", "-c", "cat /proc/self/limits"],
      stdout: "piped",
      stderr: "piped",
    }).output(),
    20_000,
    "the prologue",
  );
  const said = new TextDecoder().decode(stderr);
  // Before: 125, "plugbox refused limits: bash cannot limit the pending signals (ulimit -i 1024)".
  assert.equal(code, 0, said);
  assert.match(
    new TextDecoder().decode(stdout),
    new RegExp(`Max pending signals +${low} +${low} `),
  );
  assert.equal(said, `${EXEC_MARK}\n`);
});

Deno.test("r171: one start's sweep removes at most SWEEP_MOST folders, whatever is left", async () => {
  await using parent = await tempDir();
  const left = 8;
  for (let i = 0; i < SWEEP_MOST + left; i++) {
    const dir = join(parent.path, `held-${i.toString(16).padStart(16, "0")}`);
    Deno.mkdirSync(dir);
    Deno.writeTextFileSync(join(dir, "s"), "");
  }
  const own = join(parent.path, "held-ffffffffffffffff");
  const held = holdSocketFolder(join(own, "s"));
  try {
    const names = [...Deno.readDirSync(parent.path)].map((e) => e.name);
    // Before: every one was removed on the start's path (5,000: 8.9 s of the host's thread).
    assert.equal(names.length, left + 1, names.join(" "));
    assert.ok(names.includes("held-ffffffffffffffff"));
  } finally {
    held.close();
  }
});
