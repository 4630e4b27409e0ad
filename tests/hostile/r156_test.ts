// Review 156: what a plugin's folder controls before and while its plugin starts, seen by a host
// that starts a folder it does not trust. Each attack test failed on the code it was written
// against (500c6a7).
import assert from "node:assert/strict";
import { join } from "node:path";
import { PreflightError, previewStart } from "../../mod.ts";
import { checkGraph } from "../../runner/sandbox/preflight.ts";
import { FolderChain } from "../../runner/sandbox/folder_chain.ts";
import { readUnchanged } from "../../runner/sandbox/snapshot.ts";
import { resolveEntry } from "../../runner/sandbox/locate.ts";
import {
  SNAPSHOT_BUDGET_BYTES,
  snapshotsWaiting,
  takeSnapshotBudget,
} from "../../runner/sandbox/snapshot_budget.ts";
import { freshCache, rejected, until } from "../_helpers.ts";
import { blockedWriter, stillBlocked, tempDir } from "./_hostile.ts";

/** Imports of one file, each by another specifier: as many modules as imports. */
const VARIANTS = 20_000;

/** A folder whose main.ts imports m.ts `VARIANTS` times, as "./m.ts?<n>" (450 KB). */
async function variantFolder(base: string): Promise<string> {
  const folder = join(base, "variants");
  await Deno.mkdir(folder);
  const lines = Array.from({ length: VARIANTS }, (_, n) => `import "./m.ts?${n}";`);
  await Deno.writeTextFile(join(folder, "main.ts"), `${lines.join("\n")}\n`);
  await Deno.writeTextFile(join(folder, "m.ts"), "export const m = 1;\n");
  return folder;
}

/** The allowed roots, counting how often a module is judged against them. */
class CountedRoots extends Array<string> {
  judged = 0;
  override some(...args: Parameters<string[]["some"]>): boolean {
    this.judged++;
    return super.some(...args);
  }
}

// A graph's modules are the plugin's to multiply: "./m.ts?1" to "./m.ts?20000" are 20,000
// modules of one 20-byte file, from a main.ts of 450 KB, well within every cap (the description
// `deno info` gives is 11 MB of the 16 MiB read). The host judged them on its thread at once:
// 0.8 to 1.3 s in which no other plugin's call was answered (a host answering another plugin's
// calls in a loop: the longest wait 1,301 ms; now 128 ms, the rest the description's parse), a
// realpath each, and its summary listed m.ts 20,000 times, its size counted each time. Now a
// file's real path is looked up once, and the judging lets other work run every 8 ms: a timer
// set while it runs fires before it ends.
Deno.test("r156: a graph of 20,000 specifiers of one file is judged in turns, the host's timers running meanwhile, and the file listed once", async () => {
  await using base = await tempDir();
  const folder = await variantFolder(base.path);
  const map = join(base.path, "import_map.json");
  await Deno.writeTextFile(map, '{ "imports": {} }');
  const roots = new CountedRoots(folder);
  const seen: number[] = [];
  let ticking = true;
  const tick = () => {
    seen.push(roots.judged);
    if (ticking) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  const summary = await checkGraph({
    plugin: "p",
    prefix: [],
    deno: Deno.execPath(),
    entry: join(folder, "main.ts"),
    snapshot: folder,
    root: folder,
    allowedRoots: roots,
    importMap: map,
    env: { DENO_DIR: join(base.path, "deno_dir"), NO_COLOR: "1" },
    timeoutMs: 120_000,
    view: "test",
  }).finally(() => ticking = false);
  assert.ok(roots.judged > VARIANTS, `judged ${roots.judged}`);
  const meanwhile = seen.filter((n) => n > 0 && n < roots.judged);
  assert.ok(meanwhile.length > 0, `no timer ran while ${roots.judged} judgements were made`);
  assert.deepEqual(summary.files, ["m.ts", "main.ts"]);
  assert.equal(summary.modules, VARIANTS + 1);
  const sizes = [join(folder, "m.ts"), join(folder, "main.ts")].map((f) => Deno.statSync(f).size);
  assert.equal(summary.bytes, sizes[0] + sizes[1]);
});

Deno.test("r156: previewStart of a folder of 20,000 specifiers of one file settles, listing the file once", async () => {
  await using base = await tempDir();
  const folder = await variantFolder(base.path);
  await using cache = await freshCache();
  const { graph } = await previewStart(join(folder, "main.ts"), {
    isolation: "os",
    cacheDir: cache.path,
    preflightTimeout: 120_000,
  });
  assert.deepEqual(graph.files, ["m.ts", "main.ts"]);
  assert.equal(graph.modules, VARIANTS + 1);
});

// The snapshot's read of a file opened it by path with O_NOFOLLOW, which judges the last name
// only: a folder on the way swapped for a link after the walk's look led the host's open to what
// lay beyond, outside the folder, and only the checks on the open file refused it. A FIFO's writer
// blocked in its open was so released (and a device's open alone may set it going: a watchdog
// armed by a root host, whose close without its magic word leaves it to reboot the machine;
// review 100 had closed the terminal's case alone, with O_NOCTTY). Now the folders on the way are
// opened one by one from the root, none followed if it is a link: the start is refused with the
// user's path, and nothing outside the folder is opened.
Deno.test("r156: a folder swapped for a link after the walk leads the snapshot's read to nothing beyond it", async () => {
  await using base = await tempDir();
  const folder = join(base.path, "plugin");
  const outside = join(base.path, "outside");
  await Deno.mkdir(join(folder, "sub"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(folder, "main.ts"), 'import "./sub/mod.ts";\n');
  await Deno.writeTextFile(join(folder, "sub", "mod.ts"), "export {};\n");
  const writer = blockedWriter(join(outside, "mod.ts"));
  await using cache = await freshCache();
  // Other walks hold the whole budget: this one lists the folder, then waits to read it.
  const giveBack = await takeSnapshotBudget(SNAPSHOT_BUDGET_BYTES);
  let planned: Promise<unknown>;
  try {
    planned = previewStart(join(folder, "main.ts"), { cacheDir: cache.path, isolation: "deno" });
    planned.catch(() => {});
    await until(() => snapshotsWaiting() === 1, 20_000, "the walk to wait for its bytes");
    await Deno.rename(join(folder, "sub"), join(folder, "was-sub"));
    await Deno.symlink(outside, join(folder, "sub"));
  } finally {
    giveBack();
  }
  const error = await rejected<PreflightError>(planned);
  assert.ok(error instanceof PreflightError, String(error));
  assert.ok(error.message.includes(join(folder, "sub", "mod.ts")), error.message);
  assert.match(error.message, /became a link or another kind of file: (ELOOP|ENOTDIR)/);
  assert.equal(await stillBlocked(join(outside, "mod.ts"), writer), "released\n");
});

Deno.test("r156: readUnchanged() through a folder chain opens no FIFO a swapped folder leads to", async () => {
  await using base = await tempDir();
  const folder = join(base.path, "plugin");
  const outside = join(base.path, "outside");
  await Deno.mkdir(join(folder, "sub"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(folder, "sub", "mod.ts"), "export {};\n");
  const before = await Deno.lstat(join(folder, "sub", "mod.ts"));
  const writer = blockedWriter(join(outside, "mod.ts"));
  await Deno.rename(join(folder, "sub"), join(folder, "was-sub"));
  await Deno.symlink(outside, join(folder, "sub"));
  const chain = (await FolderChain.from(folder))!;
  try {
    const read = readUnchanged("p", join(folder, "sub", "mod.ts"), before, {
      chain,
      rel: "sub/mod.ts",
    });
    const error = await rejected<PreflightError>(read);
    assert.match(error.message, /became a link or another kind of file: (ELOOP|ENOTDIR)/);
    // And a folder swapped for a FIFO is not opened either (O_DIRECTORY refuses it unopened).
    await Deno.remove(join(folder, "sub"));
    const other = blockedWriter(join(folder, "sub"));
    const again = await rejected<PreflightError>(
      readUnchanged("p", join(folder, "sub", "mod.ts"), before, { chain, rel: "sub/mod.ts" }),
    );
    assert.match(again.message, /ENOTDIR/);
    assert.equal(await stillBlocked(join(folder, "sub"), other), "released\n");
  } finally {
    await chain.close();
  }
  assert.equal(await stillBlocked(join(outside, "mod.ts"), writer), "released\n");
  // The files of the folder as it is are read through the chain as by path.
  await Deno.remove(join(folder, "sub"));
  await Deno.rename(join(folder, "was-sub"), join(folder, "sub"));
  const fresh = (await FolderChain.from(folder))!;
  try {
    const bytes = await readUnchanged("p", join(folder, "sub", "mod.ts"), before, {
      chain: fresh,
      rel: "sub/mod.ts",
    });
    assert.equal(new TextDecoder().decode(bytes), "export {};\n");
  } finally {
    await fresh.close();
  }
});

// The entry was judged by an lstat ("a regular file, not a link"), then its real path taken apart:
// a main.ts its folder swapped for a link between the two was followed, and the folder the link
// led to became the start's root, its name and its snapshot (against a loop of renameat2 swaps,
// 264 of 20,000 looks returned the other folder's file). Now the real path must be the very file
// looked at; the swap's state is made at once, between the look and the real path.
Deno.test("r156: an entry swapped for a link just after its look is refused, naming the user's path", async () => {
  await using base = await tempDir();
  const folder = join(base.path, "plugin");
  const elsewhere = join(base.path, "elsewhere");
  await Deno.mkdir(folder);
  await Deno.mkdir(elsewhere);
  const main = join(folder, "main.ts");
  await Deno.writeTextFile(main, "export {};\n");
  await Deno.writeTextFile(join(elsewhere, "main.ts"), "export {};\n");
  const swap = () => {
    Deno.renameSync(main, join(folder, "was-main.ts"));
    Deno.symlinkSync(join(elsewhere, "main.ts"), main);
  };
  const error = (() => {
    try {
      return resolveEntry(main, { afterLook: swap });
    } catch (error) {
      return error;
    }
  })();
  assert.ok(error instanceof PreflightError, `resolved to ${error}`);
  assert.ok(error.message.includes(main), error.message);
  assert.match(error.message, /changed while it was looked at/);
  // Gone between the look and the real path: the same refusal, not Deno's NotFound.
  const gone = (() => {
    try {
      return resolveEntry(join(folder, "was-main.ts"), {
        afterLook: () => Deno.removeSync(join(folder, "was-main.ts")),
      });
    } catch (error) {
      return error;
    }
  })();
  assert.ok(gone instanceof PreflightError, `resolved to ${gone}`);
  assert.match(gone.message, /changed while it was looked at/);
  await Deno.writeTextFile(join(folder, "was-main.ts"), "export {};\n");
  // A path through a folder link to the very file is the file.
  await Deno.symlink(folder, join(base.path, "via"));
  await Deno.remove(main);
  await Deno.rename(join(folder, "was-main.ts"), main);
  assert.equal(resolveEntry(join(base.path, "via", "main.ts")), await Deno.realPath(main));
});

// A refusal of the graph as a whole (its check's deadline, its description's size) named the
// plugin's name alone, which is its folder's base name: a host starting several folders of one
// name (two checkouts' "plugin") could not tell which was refused. Now it names the user's entry.
Deno.test("r156: a graph check past its deadline is refused naming the user's entry, not the snapshot's", async () => {
  await using base = await tempDir();
  const folder = join(base.path, "plugin");
  await Deno.mkdir(folder);
  const fifo = join(base.path, "pipe.js");
  assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
  const main = join(folder, "main.ts");
  await Deno.writeTextFile(main, `import "file://${fifo}";\n`);
  await using cache = await freshCache();
  const error = await rejected<PreflightError>(
    previewStart(main, { isolation: "deno", cacheDir: cache.path, preflightTimeout: 1000 }),
  );
  assert.ok(error instanceof PreflightError, String(error));
  assert.equal(error.reason, "graph-failed");
  assert.equal(error.path, main);
  assert.ok(error.message.includes(`the module graph of "${main}" took longer`), error.message);
});
