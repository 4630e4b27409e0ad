// Review 119: attacks on reviews 113 to 118's fixes (the Python probe, PATH's code roots, the
// fetch slots). Each test failed on the code it was written against (4d4b923).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { previewStart } from "../../mod.ts";
import { pathFolders } from "../../runner/sandbox/path_programs.ts";
import { freshCache } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import {
  probeAnswer,
  realPython,
  realStdlib,
  refusedAfterTheOther,
  tempFolder,
  withPython,
} from "./_python_shim.ts";
import { settled } from "./_settled.ts";

/** Builds in `dir` a program naming an audit module that leaves `mark` wherever it is loaded. */
async function auditedProgram(dir: string, mark: string): Promise<string> {
  const module = join(dir, "audit.c");
  await Deno.writeTextFile(
    module,
    `#include <stdio.h>
__attribute__((constructor)) static void mark(void) {
  FILE *f = fopen("${mark}", "w");
  if (f) { fputs("ran as the host\\n", f); fclose(f); }
}
unsigned int la_version(unsigned int v) { return v; }
`,
  );
  await Deno.writeTextFile(join(dir, "main.c"), "int main(void) { return 0; }\n");
  const cc = async (...args: string[]) => {
    const built = await new Deno.Command("gcc", { args, stderr: "piped" }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
  };
  await cc("-shared", "-fPIC", "-o", join(dir, "audit.so"), module);
  await cc("-o", join(dir, "python3.11"), join(dir, "main.c"), `-Wl,--audit=${dir}/audit.so`);
  return join(dir, "python3.11");
}

// The probe's interpreter was given to ldd on the host, as the PATH's own program is: ldd runs the
// loader, which runs the audit module a file names (reviews 29, 30). What the probe names is a
// shim's word, in a folder no grant knows as code (~/.pyenv/versions/…/bin): a plugin that wrote
// the interpreter there, or the code answering, ran its module as the host at a mere preview.
Deno.test("r119: an interpreter a Python probe names is never run by ldd on the host", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r119-ldd-");
  const mark = join(dir.path, "MARK");
  const program = await auditedProgram(dir.path, mark);
  const stdlib = await realStdlib();
  const answer = probeAnswer(program, stdlib);
  const shim = join(dir.path, "shim");
  await Deno.mkdir(shim);
  await withPython(shim, `#!/bin/sh\necho '${answer}'\n`, async () => {
    const plan = await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path });
    // Still planned: it runs inside, with the system's library folders.
    assert.ok(plan.notes.some((note) => note.includes(program)), plan.notes.join("\n"));
  });
  assert.ok(!existsSync(mark), "the interpreter's audit module ran as the host");
});

// The PATH cache kept an answer while the folders it read kept their times, to the millisecond
// (Deno's) and the file system's tick: a link made in the same millisecond as one the read saw left
// every time as read, and the new link's folder was never a code root in this process (1,329 of
// 2,000 here). Each round makes a link, reads, makes another at once and reads again.
Deno.test("r119: a link made on PATH just after its folder was read is found", async () => {
  await using dir = await tempFolder("plugbox-r119-racy-");
  const bin = join(dir.path, "bin");
  await Deno.mkdir(bin);
  const missed: number[] = [];
  for (let round = 0; round < 200; round++) {
    Deno.symlinkSync(join(dir.path, `seen${round}`, "tool"), join(bin, "seen"));
    pathFolders(bin);
    Deno.symlinkSync(join(dir.path, `made${round}`, "tool"), join(bin, "made"));
    if (!pathFolders(bin).includes(join(dir.path, `made${round}`))) missed.push(round);
    Deno.removeSync(join(bin, "seen"));
    Deno.removeSync(join(bin, "made"));
  }
  assert.deepEqual(missed, [], `rounds whose new link's folder was not found: ${missed.length}`);
});

// A folder on the way to a PATH link's file replaced by a link to the same folder moved (a versioned
// layout: mv app app-1.0 && ln -s app-1.0 app) kept every folder watched as it was: the old answer
// stayed, naming the tool's folder by a path no longer real, and a write grant over its real path
// (app-1.0/bin) overlapped no code root.
Deno.test("r119: a folder on a PATH link's way moved behind a link of its old name is followed", async () => {
  await using dir = await tempFolder("plugbox-r119-moved-");
  const bin = join(dir.path, "bin");
  await Deno.mkdir(bin);
  await Deno.mkdir(join(dir.path, "opt", "app", "bin"), { recursive: true });
  await Deno.writeTextFile(join(dir.path, "opt", "app", "bin", "tool"), "");
  await Deno.symlink(join(dir.path, "opt", "app", "bin", "tool"), join(bin, "tool"));
  // Read once the folders are past the racy window, so the answer is kept, as a settled PATH's is.
  await settled(dir.path, bin, join(dir.path, "opt"), join(dir.path, "opt", "app", "bin"));
  assert.ok(pathFolders(bin).includes(join(dir.path, "opt", "app", "bin")));
  await Deno.rename(join(dir.path, "opt", "app"), join(dir.path, "opt", "app-1.0"));
  await Deno.symlink("app-1.0", join(dir.path, "opt", "app"));
  assert.ok(pathFolders(bin).includes(join(dir.path, "opt", "app-1.0", "bin")));
});

// The probe's stderr past 1 MiB was read on and dropped for as long as the probe ran (15 s): a
// shim's flood took the host's thread 4.6 s of CPU at each Python plugin's start. It is killed past
// 64 KiB now: this shim floods 2 MiB, then gives the true answer, which is no longer waited for.
Deno.test("r119: a Python probe that floods its stderr is stopped, not read on", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r119-flood-");
  const python = await realPython();
  const shim = `#!/bin/sh
head -c 2097152 /dev/zero >&2
exec "${python}" "$@"
`;
  await withPython(dir.path, shim, async () => {
    await assert.rejects(
      previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path }),
      /did not say where its interpreter is/,
    );
  });
});

// The host finds sh, bwrap, setpriv and prlimit once a process, on the PATH of its first start, and
// runs them from there for good; the code roots were the PATH of each start. A host that changed its
// PATH since (a folder dropped from it) let a write grant over the folder its sh still ran from.
Deno.test("r119: a folder the host's kept sh runs from stays code after PATH drops it", async () => {
  await using cache = await freshCache();
  await using tools = await tempFolder("plugbox-r119-tools-");
  await Deno.symlink(Deno.realPathSync("/bin/sh"), join(tools.path, "sh"));
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_r119_path_change.ts", import.meta.url).pathname,
      tools.path,
      cache.path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(child.stdout).trim();
  assert.ok(child.success, new TextDecoder().decode(child.stderr));
  assert.match(said, /^Cannot grant write ".*": it overlaps ".*", which holds code/);
});

// Review 119's left item: what a Python plugin's interpreter loads from where no code root holds
// it (a version manager's `~/.pyenv/versions/…`, behind a shim) is that plugin's code, as its
// folder is (review 120): a Deno plugin granted to write it filled it with code that ran with the
// Python plugin's grants. Within a process, whichever starts first, the other is refused. The
// interpreter here is a copy of the real one in a folder of the test's, named by a shim's answer.
Deno.test("r119: a version manager's interpreter folder is no other plugin's to write", async () => {
  const python = await realPython();
  const stdlib = await realStdlib();
  for (const first of ["python", "writer"] as const) {
    await using dir = await tempFolder("plugbox-r119-versions-");
    const versions = join(dir.path, "versions");
    await Deno.mkdir(join(versions, "bin"), { recursive: true });
    const interpreter = join(versions, "bin", "python3");
    await Deno.copyFile(python, interpreter);
    const answer = probeAnswer(interpreter, stdlib);
    await refusedAfterTheOther(join(dir.path, "shim"), answer, versions, first);
  }
});
