// Review 94: what landed in the session after f55fc8f, attacked. Each test failed on the code it
// was written against (5ca2191).
import assert from "node:assert/strict";
import { join } from "node:path";
import { approvePlugin, previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { rejected, until } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { R94 } from "./plugins/r94_contract.ts";

// An item is held as its line until it is read (review 90), and the line was a view into the read
// it came in: a buffer of 64 KiB each, however short the line. A plugin that wrote each short item
// alone made the host hold 64 KiB for every 220 bytes of a window: 16 streams of 256 items, 900 KiB
// of lines, held 256 MiB of buffers (the default 64 in flight, a GiB); the test sends 128 each, 128
// MiB. Counted in `external`: a buffer's untouched pages may not be resident, but they are V8's to
// account for.
Deno.test("r94: short stream items a consumer has not read hold their own bytes, not the reads they came in", async () => {
  await using plugin = await startPlugin(hostile("r94_raw.ts"), {
    contracts: [R94],
    isolation: "deno",
  });
  const api = plugin.api(R94);
  const before = Deno.memoryUsage().external;
  const streams = Array.from({ length: 16 }, () => api.items("drip"));
  await until(() => streams.every((s) => s.buffered.items === 128), 60_000, "the items");
  const grown = Deno.memoryUsage().external - before;
  assert.equal((await streams[0].next()).value, 0);
  for (const s of streams) s.cancel();
  // Reads read and dropped wait for a collection: 64 MiB allowed, 128 held as reads.
  assert.ok(grown < 64 * 2 ** 20, `${Math.round(grown / 2 ** 20)} MiB of buffers held`);
});

const HELLO = new URL("../../plugins/hello/", import.meta.url);

/** The hello plugin, reading what it is given, in a fresh folder. */
async function helloSpace() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r94-" }));
  const plugin = join(dir, "hello");
  await Deno.mkdir(plugin);
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(new URL(file, HELLO), join(plugin, file));
  }
  const reads = [{ value: "*", reason: "reads what it is given" }];
  await Deno.writeTextFile(
    join(plugin, "plugbox.json"),
    JSON.stringify({ permissions: { read: reads } }),
  );
  return {
    dir,
    main: join(plugin, "main.ts"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

// Review 92 refused a grant over the cache's sealing key, and, for a host with a cache of its own,
// a write grant over plugbox's default cache, where `plug` and this user's other hosts keep their
// snapshots. It did not refuse a read of the default cache's key, which seals every approval those
// make: a host with its own cache started a plugin granted the home folder, and it read the key.
for (const locked of [false, true]) {
  Deno.test(`r94: a host with a cache of its own refuses a grant over the default cache's sealing key${locked ? " beside a lock" : ""}`, async () => {
    await using space = await helloSpace();
    const shared = join(space.dir, "default-cache");
    // Its own cache apart: the grant below covers only the default one.
    const own = await Deno.makeTempDir({ prefix: "plugbox-r94-cache-" });
    const before = Deno.env.get("PLUGBOX_CACHE_DIR");
    Deno.env.set("PLUGBOX_CACHE_DIR", shared);
    try {
      // `plug approve` of this user: the default cache's key is made.
      await approvePlugin(space.main, {
        isolation: "deno",
        lock: { path: join(space.dir, "a.lock") },
      });
      const key = (await Deno.readTextFile(join(shared, "lock.key"))).trim();
      let seen: string;
      try {
        await using plugin = await startPlugin(space.main, {
          contracts: [Greeter],
          cacheDir: own,
          isolation: "deno",
          permissions: { read: [space.dir] },
          lock: locked
            ? { path: join(space.dir, "b.lock"), policy: "ask", ask: () => true }
            : undefined,
        });
        seen = await plugin.api(Greeter).readGreeting(join(shared, "lock.key"));
      } catch (error) {
        seen = `refused: ${error}`;
      }
      assert.notEqual(seen, key, "the plugin read the default cache's sealing key");
      assert.match(seen, /^refused: TypeError: .*covers plugbox's sealing key/, seen);
    } finally {
      await Deno.remove(own, { recursive: true });
      if (before === undefined) Deno.env.delete("PLUGBOX_CACHE_DIR");
      else Deno.env.set("PLUGBOX_CACHE_DIR", before);
    }
  });
}

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

// `approve --expect` took a prefix of 12 hex digits, the length `plug inspect` showed: 48 bits.
// Whoever writes the folder reviewed and the folder approved (the plugin's author) finds two whose
// hashes share 12 digits in about 2^24 tries of a byte in a comment, a birthday search of minutes:
// the folder reviewed showed its prefix, the other was approved under it. The whole hash only.
Deno.test("r94: approve --expect takes the whole content hash, not a prefix of it", async () => {
  await using space = await helloSpace();
  const lock = join(space.dir, "plugbox.lock");
  const { snapshot } = await previewStart(space.main, { isolation: "deno" });
  const prefix = snapshot.hash.slice(0, 12);
  const error = await rejected<Error>(
    approvePlugin(space.main, { isolation: "deno", lock: { path: lock }, expectHash: prefix }),
  );
  assert.ok(error instanceof TypeError, String(error));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "approve", space.main, `--lock=${lock}`, `--expect=${prefix}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2, new TextDecoder().decode(out.stderr));
  // Given twice, the last one was taken, whatever the first said.
  const twice = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "approve",
      space.main,
      `--lock=${lock}`,
      `--expect=${"0".repeat(64)}`,
      `--expect=${snapshot.hash}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(twice.code, 2, new TextDecoder().decode(twice.stderr));
  await assert.rejects(Deno.stat(lock), Deno.errors.NotFound);
  // What inspect shows is what approve takes.
  const inspected = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "inspect", space.main, "--isolation=deno"],
    stdin: "null",
    stdout: "piped",
  }).output();
  const shown = new TextDecoder().decode(inspected.stdout);
  assert.match(shown, new RegExp(`^content +${snapshot.hash} `, "m"));
});

// The cache is judged by its own folder and those above it. A cache folder made before review 92 is
// 0755, and what a start makes in it takes the process's umask: at 002, with a group shared with
// another user, `snapshots/` was theirs to write, and a snapshot swapped there ran. A cache of this
// user's that others may enter is closed to them at the next start.
Deno.test({
  name:
    "r94: a cache made open to others is closed to them: a folder their group may write in it is out of their reach",
  fn: async () => {
    await using space = await helloSpace();
    await Deno.chmod(space.dir, 0o755);
    const cacheDir = join(space.dir, "cache");
    await Deno.mkdir(cacheDir, { mode: 0o755 }); // as review 92 found it: made under umask 022
    await Deno.chmod(cacheDir, 0o755);
    const { snapshot } = await previewStart(space.main, { cacheDir, isolation: "deno" });
    // Made under umask 002, the folder's group one the other user is in.
    const snapshots = join(cacheDir, "snapshots");
    await Deno.chown(snapshots, null, 65534);
    await Deno.chmod(snapshots, 0o775);
    const poison = join(space.dir, "poison");
    await Deno.mkdir(poison);
    await Deno.copyFile(join(snapshot.dir, "contract.ts"), join(poison, "contract.ts"));
    await Deno.writeTextFile(
      join(poison, "main.ts"),
      `import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";
await serve(implement(Greeter, { sayHello: () => "POISONED", readGreeting: () => "POISONED" }));
`,
    );
    await Deno.chmod(poison, 0o755);
    await Deno.chmod(join(poison, "main.ts"), 0o644);
    await Deno.chmod(join(poison, "contract.ts"), 0o644);
    // The other user, in the group: the snapshot folder was theirs to move.
    const swap = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "sh",
        "-c",
        `mv "$1" "$1.gone" && cp -r "$2" "$1"`,
        "sh",
        snapshot.dir,
        poison,
      ],
    }).output();
    const how = swap.success ? "swapped" : new TextDecoder().decode(swap.stderr).trim();
    let seen: string;
    try {
      await using plugin = await startPlugin(space.main, {
        contracts: [Greeter],
        cacheDir,
        isolation: "deno",
      });
      seen = await plugin.api(Greeter).sayHello("you");
    } catch (error) {
      seen = `refused: ${error}`;
    }
    assert.equal(seen, "hello, you", `the other user's code ran as the plugin (${how})`);
  },
});
