// Review 96: attacks on the fixes of reviews 93 and 94.
import assert from "node:assert/strict";
import { join } from "node:path";
import { PreflightError } from "../../mod.ts";
import { lockKey } from "../../runner/sandbox/lock_file.ts";
import { movesAndRead } from "./_moves.ts";
import { plantSecrets, pluginFolder, SECRET_DIR } from "./_hostile.ts";

// A link in a read grant, with no ".." of its own, leads through a link of the host's outside
// every grant whose target climbs out of a folder the plugin may write. Judged by the grant link's
// spelling alone, nothing climbs; the kernel climbs where the plugin moved a link in place.
for (const spelled of ["absolute", "climbing first"] as const) {
  Deno.test(`grant links [deno]: a ".." in a further link's target climbs where the plugin may move folders (grant link ${spelled})`, async () => {
    await plantSecrets();
    await using shared = await pluginFolder({});
    await using data = await pluginFolder({});
    await using host = await pluginFolder({}); // the host's, in no grant
    const high = await Deno.realPath(await Deno.makeTempDir({ dir: SECRET_DIR, prefix: "r96-" }));
    try {
      await Deno.mkdir(join(shared.dir, "d", "e"), { recursive: true });
      await Deno.writeTextFile(join(shared.dir, "secret.txt"), "public\n");
      await Deno.symlink(high, join(high, "q")); // in a write grant: leads to its top
      // Now "<shared>/secret.txt", in the read grant; once "d" is a link to "high", the secret.
      await Deno.symlink(`${shared.dir}/d/e/../../secret.txt`, join(host.dir, "m"));
      await Deno.mkdir(join(data.dir, "x"));
      const name = host.dir.split("/").pop();
      // "../x/../<host>/m" climbs out of "data/x" (judged), then descends through the host's link.
      const target = spelled === "absolute" ? `${host.dir}/m` : `../x/../../${name}/m`;
      await Deno.symlink(target, join(data.dir, "x", "l"));
      const outcome = await movesAndRead(
        [shared.dir, high],
        [data.dir],
        `rm ${shared.dir}/d|mv ${high}/q ${shared.dir}/d|mkdir ${high}/e|read ${data.dir}/x/l`,
      );
      assert.ok(outcome instanceof PreflightError, `the plugin read: ${outcome}`);
      assert.equal(outcome.reason, "grant-link");
    } finally {
      await Deno.remove(high, { recursive: true });
    }
  });
}

// The default cache's sealing key is refused to every start (review 94), but "default" was read
// from this process's environment: a host that names a cache of its own in PLUGBOX_CACHE_DIR gave
// a plugin ~/.cache/plugbox, where plug (run from a shell without it) keeps the key it seals with.
Deno.test("lock key: a host whose environment names its own cache still refuses the key of ~/.cache/plugbox", async () => {
  const home = Deno.env.get("HOME")!;
  const fallback = join(home, ".cache", "plugbox");
  await Deno.mkdir(fallback, { recursive: true });
  const own = await Deno.realPath(await Deno.makeTempDir({ prefix: "r96-cache-" }));
  await Deno.chmod(own, 0o700);
  const before = Deno.env.get("PLUGBOX_CACHE_DIR");
  Deno.env.set("PLUGBOX_CACHE_DIR", own);
  try {
    const key = join(fallback, "lock.key");
    const outcome = await movesAndRead([], [key], `read ${key}`);
    // Its text is not shown: it is the key.
    assert.ok(
      outcome instanceof TypeError,
      `the plugin started: ${String(outcome).startsWith("refused") ? outcome : "it read the key"}`,
    );
    assert.match(outcome.message, /sealing key/);
  } finally {
    if (before === undefined) Deno.env.delete("PLUGBOX_CACHE_DIR");
    else Deno.env.set("PLUGBOX_CACHE_DIR", before);
    await Deno.remove(own, { recursive: true });
  }
});

// Two hosts in one process, each with a cache of its own: the first's key seals its locked starts'
// approvals, and a plugin of the second, given the folder that cache lies in, read it.
Deno.test("lock key: a cache another start in this process used keeps its key from a later start's grant", async () => {
  await using space = await pluginFolder({});
  const first = join(space.dir, "first-cache");
  const second = await Deno.realPath(await Deno.makeTempDir({ prefix: "r96-cache-" }));
  try {
    // The first host's start, and the key its locked starts are sealed with.
    assert.match(String(await movesAndRead([], [], "", first)), /unknown step/); // it ran
    lockKey(first);
    const key = join(first, "lock.key");
    const outcome = await movesAndRead([], [key], `read ${key}`, second);
    assert.ok(
      outcome instanceof TypeError,
      `the plugin started: ${String(outcome).startsWith("refused") ? outcome : "it read the key"}`,
    );
    assert.match(outcome.message, /sealing key/);
  } finally {
    await Deno.remove(second, { recursive: true });
  }
});

// The other order: a plugin given a folder first, then a start whose cache lies in it.
Deno.test("lock key: a cache is refused where a plugin started earlier in this process was given its key", async () => {
  await using space = await pluginFolder({});
  const later = join(space.dir, "later-cache");
  assert.match(String(await movesAndRead([], [space.dir], "", undefined)), /unknown step/); // it ran
  const outcome = await movesAndRead([], [], "", later);
  assert.ok(outcome instanceof TypeError, `the start used the cache: ${outcome}`);
  assert.match(outcome.message, /given to a plugin started earlier in this process/);
});
