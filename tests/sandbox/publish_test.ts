import assert from "node:assert/strict";
import { join } from "node:path";
import { tryClaim } from "../../runner/sandbox/claim_file.ts";
import { publishFolder, writeReadOnly } from "../../runner/sandbox/publish.ts";

const FILES = { "a.txt": "alpha", "b.txt": "beta" };

async function good(dir: string): Promise<boolean> {
  for (const [name, text] of Object.entries(FILES)) {
    if (await Deno.readTextFile(join(dir, name)).catch(() => undefined) !== text) return false;
  }
  return true;
}

function options(parent: string, overrides: Partial<Parameters<typeof publishFolder>[1]> = {}) {
  return {
    good,
    build: () => writeReadOnly(parent, FILES),
    discard: (folder: string) => Deno.remove(folder, { recursive: true }),
    asidePrefix: ".set-aside-",
    ...overrides,
  };
}

async function names(parent: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(parent))).map((entry) => entry.name).sort();
}

async function withParent(test: (parent: string) => Promise<void>): Promise<void> {
  const parent = await Deno.makeTempDir();
  try {
    await test(parent);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
}

// CI: four `plug approve` at once failed with "Directory not empty": each host checked, found no
// folder, then found the one another host had just published, took it for damaged and moved it
// aside, and lost its own rename to the folder it had just seen missing.
Deno.test("publishFolder(): hosts publishing at once all end with the folder, and none moves another's aside", async () => {
  await withParent(async (parent) => {
    for (let round = 0; round < 10; round++) {
      const dir = join(parent, `key${round}`);
      // Each host starts a different number of file system steps late, so that one's check,
      // look and rename fall between another's.
      const all = await Promise.allSettled(
        Array.from({ length: 24 }, async (_, host) => {
          for (let step = 0; step < host % 8; step++) await Deno.lstat(parent);
          await publishFolder(dir, options(parent));
        }),
      );
      const failed = all.filter((result) => result.status === "rejected");
      assert.deepEqual(failed, [], `round ${round}`);
      assert.ok(await good(dir), `round ${round}`);
    }
    const left = (await names(parent)).filter((name) => !name.startsWith("key"));
    assert.deepEqual(left, [], "no folder moved aside, no build or claim left");
  });
});

Deno.test("publishFolder(): a folder another host renames in while this one builds is kept, and the build thrown away", async () => {
  await withParent(async (parent) => {
    const dir = join(parent, "key");
    const theirs = await writeReadOnly(parent, FILES);
    const theirIno = (await Deno.lstat(theirs)).ino;
    await publishFolder(
      dir,
      options(parent, {
        build: async () => {
          const mine = await writeReadOnly(parent, FILES);
          await Deno.rename(theirs, dir); // the other host's rename, between this one's steps
          return mine;
        },
      }),
    );
    assert.equal((await Deno.lstat(dir)).ino, theirIno, "their folder stays");
    assert.deepEqual(await names(parent), ["key"], "nothing aside, no build or claim left");
  });
});

// Review 54: a host that had judged the place bad moved it aside to look at it, and the place was
// empty (or another host's good folder was left aside) while hosts already used it.
Deno.test("publishFolder(): hosts at once over a damaged folder move aside only it, and the place once good stays good", async () => {
  await withParent(async (parent) => {
    for (let round = 0; round < 6; round++) {
      const dir = join(parent, `key${round}`);
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "a.txt"), "damaged");
      let done = false;
      let lost = 0;
      const watcher = (async () => {
        let seen = false;
        while (!done) {
          const now = await good(dir);
          if (seen && !now) lost++;
          seen ||= now;
        }
      })();
      const all = await Promise.allSettled(
        Array.from({ length: 16 }, async (_, host) => {
          for (let step = 0; step < host % 8; step++) await Deno.lstat(parent);
          await publishFolder(dir, options(parent));
        }),
      );
      done = true;
      await watcher;
      assert.deepEqual(all.filter((result) => result.status === "rejected"), [], `round ${round}`);
      assert.ok(await good(dir), `round ${round}`);
      assert.equal(lost, 0, `round ${round}: the good folder went missing ${lost} times`);
      const aside = (await names(parent)).filter((name) => name.startsWith(".set-aside-"));
      assert.equal(aside.length, 1, `round ${round}: ${aside.join(", ")}`);
      assert.equal(await Deno.readTextFile(join(parent, aside[0], "a.txt")), "damaged");
      await Deno.remove(join(parent, aside[0]), { recursive: true });
    }
    const left = (await names(parent)).filter((name) => !name.startsWith("key"));
    assert.deepEqual(left, [], "no build or claim left");
  });
});

Deno.test("publishFolder(): a build that fails is what it throws, and leaves nothing", async () => {
  await withParent(async (parent) => {
    const dir = join(parent, "key");
    await assert.rejects(
      publishFolder(dir, options(parent, { build: () => Promise.reject(new Error("no disk")) })),
      /no disk/,
    );
    assert.deepEqual(await names(parent), []);
  });
});

Deno.test("publishFolder(): a turn another process holds too long fails naming its claim, and leaves no build", async () => {
  await withParent(async (parent) => {
    const claim = join(parent, ".publish.claim");
    const held = tryClaim(claim, (detail) => new Error(detail)); // a stuck host's turn
    assert.ok(held);
    try {
      await assert.rejects(
        publishFolder(join(parent, "key"), options(parent, { turnWaitMs: 200 })),
        /^Error: Cannot put ".*\/key" in place: another process has held ".*\/\.publish\.claim" for over 0\.2 s .*remove the file if no host runs/,
      );
    } finally {
      held.release();
    }
    assert.deepEqual(await names(parent), []);
  });
});

// Review 55: the turn's lock file stayed for good, and a plugin that may read the cache locked it
// (an exclusive flock needs only a read-only open): every host's next update waited, then failed.
Deno.test("publishFolder(): a process that may only read the folder cannot hold up a turn", async () => {
  await withParent(async (parent) => {
    const claim = join(parent, ".publish.claim");
    const held = tryClaim(claim, (detail) => new Error(detail))!;
    const reader = await Deno.open(claim, { read: true }); // opened while a host holds it
    held.release();
    try {
      assert.ok(await reader.tryLock(true), "the reader locks what it opened");
      await publishFolder(join(parent, "key"), options(parent, { turnWaitMs: 2_000 }));
      assert.ok(await good(join(parent, "key")));
    } finally {
      reader.close();
    }
    assert.deepEqual(await names(parent), ["key"]);
  });
});

// Review 55: a link planted at the lock's name had a root host make a file where it led.
Deno.test("publishFolder(): a link or folder at the claim's name is refused, and nothing is made where it leads", async () => {
  await withParent(async (parent) => {
    const claim = join(parent, ".publish.claim");
    const victim = join(parent, "elsewhere");
    for (const plant of ["link", "folder"]) {
      if (plant === "link") await Deno.symlink(victim, claim);
      else await Deno.mkdir(claim);
      await assert.rejects(
        publishFolder(join(parent, "key"), options(parent)),
        /^Error: Cannot put ".*\/key" in place: ".*\/\.publish\.claim" beside it is not a regular file; remove it$/,
      );
      await assert.rejects(Deno.lstat(victim), Deno.errors.NotFound, plant);
      await Deno.remove(claim);
      assert.deepEqual(await names(parent), [], `${plant}: no build left`);
    }
  });
});
