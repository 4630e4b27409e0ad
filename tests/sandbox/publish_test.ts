import assert from "node:assert/strict";
import { join } from "node:path";
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
    assert.deepEqual(left, [".publish.lock"], "no folder moved aside, no build left");
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
    assert.deepEqual(await names(parent), [".publish.lock", "key"], "nothing aside, no build left");
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
    assert.deepEqual(left, [".publish.lock"], "no build left");
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

Deno.test("publishFolder(): a turn another process holds too long fails naming its lock, and leaves no build", async () => {
  await withParent(async (parent) => {
    const lock = await Deno.open(join(parent, ".publish.lock"), { write: true, create: true });
    try {
      await lock.lock(true); // a stuck host's turn
      await assert.rejects(
        publishFolder(join(parent, "key"), options(parent, { turnWaitMs: 200 })),
        /another process held ".*\/\.publish\.lock" for over 0\.2 s .*use another cacheDir/,
      );
    } finally {
      lock.close();
    }
    assert.deepEqual(await names(parent), [".publish.lock"]);
  });
});
