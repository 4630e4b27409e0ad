// Review 120: the caches every plugin shares and the path to them. A cache spelled through a link
// another user could aim (theirs, or one in a folder they may rename things in) was followed at
// every start: its owner chose, start by start, which of this user's folders became plugbox's
// cache, and plugbox made its folders there and closed it to others (chmod 0700). And a plugin
// given a folder to write that holds another plugin's folder replaced that plugin's code, which
// its next start ran with its own grants.
import assert from "node:assert/strict";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { Probe } from "./plugins/probe.ts";
import { ISOLATIONS } from "./_hostile.ts";
import { freshCache, until } from "../_helpers.ts";
import {
  SNAPSHOT_BUDGET_BYTES,
  snapshotsWaiting,
  takeSnapshotBudget,
} from "../../runner/sandbox/snapshot_budget.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

/** A shared folder (`mode`), and a folder of this user's holding one file, named `home`. */
async function place(mode: number) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r120-" }));
  const shared = join(dir, "shared");
  await Deno.mkdir(shared);
  await Deno.chmod(shared, mode);
  const home = join(dir, "home");
  await Deno.mkdir(home);
  await Deno.chmod(home, 0o755);
  await Deno.writeTextFile(join(home, "notes.txt"), "mine");
  return {
    shared,
    home,
    /** What plugbox did to `home`: its mode and names. */
    seen: () => ({
      mode: (Deno.statSync(home).mode! & 0o7777).toString(8),
      names: [...Deno.readDirSync(home)].map((e) => e.name).sort(),
    }),
    [Symbol.asyncDispose]: async () => {
      await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A plan's start with the cache at `cacheDir`: the snapshot's folder, or why it was refused. */
async function planned(cacheDir: string): Promise<string> {
  try {
    return (await previewStart(HELLO, { cacheDir, isolation: "deno" })).snapshot.dir;
  } catch (error) {
    return `refused: ${error}`;
  }
}

const UNTOUCHED = { mode: "755", names: ["notes.txt"] };

Deno.test("R120: a cache spelled through another user's link is refused, and nothing is made where it leads", async () => {
  // Only root can give a link away; a host not root meets this case as another user's link.
  if (Deno.uid() !== 0) return;
  // Sticky, as /tmp is: the link's owner, not this user, may aim it again at any time.
  await using at = await place(0o1777);
  const link = join(at.shared, "plugbox");
  await Deno.symlink(at.home, link);
  const chown = await new Deno.Command("chown", { args: ["-h", "65534:65534", link] }).output();
  assert.ok(chown.success);
  const seen = await planned(link);
  assert.match(seen, /^refused: TypeError: .*is a link owned by uid 65534/, seen);
  assert.deepEqual(at.seen(), UNTOUCHED);
  // One level further down, through a folder that link leads to, the same.
  const deeper = await planned(join(link, "cache"));
  assert.match(deeper, /^refused: TypeError: .*is a link owned by uid 65534/, deeper);
  assert.deepEqual(at.seen(), UNTOUCHED);
});

Deno.test("R120: a cache spelled through a link in a folder others may rename things in is refused", async () => {
  // Not sticky: anyone may put their own link in place of this user's.
  await using at = await place(0o777);
  const link = join(at.shared, "plugbox");
  await Deno.symlink(at.home, link);
  const seen = await planned(link);
  assert.match(seen, /^refused: TypeError: .*shared" is writable by other users/, seen);
  assert.deepEqual(at.seen(), UNTOUCHED);
  // A relative link, met through a folder of the path: the same.
  await Deno.remove(link);
  await Deno.symlink("../home", link);
  const relative = await planned(link);
  assert.match(relative, /^refused: TypeError: .*shared" is writable by other users/, relative);
  assert.deepEqual(at.seen(), UNTOUCHED);
});

Deno.test("R120: a cache through this user's own link in a sticky folder is used", async () => {
  await using at = await place(0o1777);
  const link = join(at.shared, "plugbox");
  await Deno.symlink(at.home, link);
  const seen = await planned(link);
  assert.ok(seen.startsWith(join(at.home, "snapshots")), seen);
  assert.deepEqual(at.seen().mode, "700"); // this user's cache, closed to others (review 94)
});

const PLANTS = new URL("./plugins/r110_plants_program.ts", import.meta.url);

/** A project folder holding the hello plugin's folder `b`, and a cache beside it. */
async function project() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r120-" }));
  const projects = join(dir, "projects");
  await Deno.mkdir(join(projects, "b"), { recursive: true });
  for (const file of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(
      new URL(`../../plugins/hello/${file}`, import.meta.url),
      join(projects, "b", file),
    );
  }
  return {
    projects,
    main: join(projects, "b", "main.ts"),
    cacheDir: join(dir, "cache"),
    [Symbol.asyncDispose]: async () => {
      await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The writer plugin's own code for `b`: what it would have `b` run, with `b`'s grants. */
const FOREIGN = `import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";
await serve(implement(Greeter, { sayHello: () => "THE WRITER'S CODE", readGreeting: () => "" }));
`;

/** A start of `fn`'s result: what it answered, or why it was refused. */
async function outcome(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (error) {
    return `refused: ${error}`;
  }
}

for (const isolation of ISOLATIONS) {
  Deno.test(`R120 [${isolation}]: a plugin given a folder holding another plugin's folder cannot have it run its code`, async () => {
    const writer = { contracts: [Probe], isolation, unsafe: { writeAsRoot: true } };
    // The writer first: given the projects folder, it puts its own code in b's place.
    {
      await using space = await project();
      const { cacheDir, main } = space;
      await using a = await startPlugin(PLANTS, {
        ...writer,
        cacheDir,
        permissions: { write: [space.projects] },
      });
      assert.equal(await a.api(Probe).attempt(`${main}|${FOREIGN}`), "planted");
      const b = await outcome(async () => {
        await using b = await startPlugin(main, { contracts: [Greeter], cacheDir, isolation });
        return await b.api(Greeter).sayHello("you");
      });
      assert.match(b, /^refused: TypeError: .*its folder .* overlaps .*given to write/, b);
    }
    // b first: a write grant over its folder, or inside it, is refused to the writer.
    await using space = await project();
    const { cacheDir, main } = space;
    await using b = await startPlugin(main, { contracts: [Greeter], cacheDir, isolation });
    assert.equal(await b.api(Greeter).sayHello("you"), "hello, you");
    for (const folder of [space.projects, join(space.projects, "b")]) {
      const a = await outcome(async () => {
        await using a = await startPlugin(PLANTS, {
          ...writer,
          cacheDir,
          permissions: { write: [folder] },
        });
        return await a.api(Probe).attempt(`${main}|${FOREIGN}`);
      });
      assert.match(
        a,
        /^refused: TypeError: Cannot grant write .*code of a plugin started/,
        a,
      );
    }
  });
}

// Every start reads its plugin's folder whole into memory (64 MiB by default) before it hashes and
// copies it, and starts are planned all at once: eight folders of 60 MiB planned together took the
// host to 711 MB, with no bound on how many. Now a walk waits for its bytes of a process-wide
// budget after it has listed its folder and before it reads a byte (eight: 390 MB).
Deno.test("R120: a folder is read only once its bytes fit the process's snapshot budget", async () => {
  await using cache = await freshCache();
  await using space = await project();
  // Other walks hold the whole budget.
  const giveBack = await takeSnapshotBudget(SNAPSHOT_BUDGET_BYTES);
  let planned: Promise<unknown> | undefined;
  try {
    planned = previewStart(space.main, { cacheDir: cache.path, isolation: "deno" });
    planned.catch(() => {});
    await until(() => snapshotsWaiting() === 1, 20_000, "the walk to wait for its bytes");
    const copies = await Array.fromAsync(Deno.readDir(join(cache.path, "snapshots")))
      .catch(() => []);
    assert.deepEqual(copies, [], "nothing is copied while the walk waits");
  } finally {
    giveBack();
  }
  await planned;
  assert.equal(snapshotsWaiting(), 0);
  // A walk that waits in line ends at its start's abort, having taken nothing.
  const held = await takeSnapshotBudget(SNAPSHOT_BUDGET_BYTES);
  try {
    const stop = new AbortController();
    const stopped = previewStart(space.main, {
      cacheDir: cache.path,
      isolation: "deno",
      signal: stop.signal,
    });
    stopped.catch(() => {});
    await until(() => snapshotsWaiting() === 1, 20_000, "the second walk to wait");
    stop.abort(new Error("stopped in line"));
    await assert.rejects(stopped, /stopped in line/);
    assert.equal(snapshotsWaiting(), 0);
  } finally {
    held();
  }
  // And the budget is whole again: a walk of all of it is served at once.
  (await takeSnapshotBudget(SNAPSHOT_BUDGET_BYTES))();
});
