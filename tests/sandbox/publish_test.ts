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
    assert.deepEqual(left, [], "no folder moved aside, no build left");
  });
});

Deno.test("publishFolder(): a folder another host finishes between the check and the look is kept, not judged missing", async () => {
  await withParent(async (parent) => {
    const dir = join(parent, "key");
    const theirs = await writeReadOnly(parent, FILES);
    let checks = 0;
    let builds = 0;
    await publishFolder(
      dir,
      options(parent, {
        good: async (found) => {
          const verdict = await good(found);
          if (++checks === 1) await Deno.rename(theirs, dir); // the other host's rename
          return verdict;
        },
        build: () => {
          builds++;
          return writeReadOnly(parent, FILES);
        },
      }),
    );
    assert.equal(builds, 0, "nothing built: the folder there is judged again, and kept");
    assert.deepEqual(await names(parent), ["key"]);
    assert.ok(await good(dir));
  });
});

Deno.test("publishFolder(): a damaged folder is moved aside and replaced; one swapped in after it was judged is put back", async () => {
  await withParent(async (parent) => {
    const dir = join(parent, "key");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "a.txt"), "not alpha");
    await publishFolder(dir, options(parent));
    assert.ok(await good(dir), "replaced");
    const aside = (await names(parent)).filter((name) => name.startsWith(".set-aside-"));
    assert.equal(aside.length, 1);
    assert.equal(await Deno.readTextFile(join(parent, aside[0], "a.txt")), "not alpha");

    // Judged damaged, then (before it is moved) replaced by another host's good folder.
    const other = join(parent, "other");
    await Deno.mkdir(other);
    await Deno.mkdir(join(other, "key"));
    await Deno.writeTextFile(join(other, "key", "a.txt"), "not alpha");
    const theirs = await writeReadOnly(other, FILES);
    const theirIno = (await Deno.lstat(theirs)).ino;
    let checks = 0;
    await publishFolder(
      join(other, "key"),
      options(other, {
        good: async (found) => {
          const verdict = await good(found);
          if (++checks === 2) {
            await Deno.rename(join(other, "key"), join(other, "gone")); // another host's steps
            await Deno.rename(theirs, join(other, "key"));
          }
          return verdict;
        },
      }),
    );
    assert.equal((await Deno.lstat(join(other, "key"))).ino, theirIno, "their folder stays");
    assert.deepEqual(await names(other), ["gone", "key"], "nothing left aside, no build left");
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
