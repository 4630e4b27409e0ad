// Review 137: paths compared as strings. Every place a plugin, its folder or the host's options
// name a path was tried with trailing and repeated slashes, "." and "..", links, a prefix string
// of another name, relative spellings and non-UTF-8 names. Each test failed on the code it was
// written against (847f97b).
import assert from "node:assert/strict";
import { join } from "node:path";
import { approvePlugin, PreflightError, previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { resolveGrants } from "../../runner/sandbox/permissions.ts";
import { reviewGrants } from "../../runner/sandbox/manifest.ts";
import { tempFolder } from "./_python_shim.ts";
import { underBinds } from "./_mount_outcomes.ts";

const repo = new URL("../../", import.meta.url).pathname;

/** A copy of the hello plugin whose plugbox.json requests `permissions`. */
async function helloAsking(permissions: unknown) {
  const folder = await tempFolder("plugbox-r137-plugin-");
  for (const name of ["main.ts", "contract.ts"]) {
    await Deno.copyFile(join(repo, "plugins/hello", name), join(folder.path, name));
  }
  await Deno.writeTextFile(join(folder.path, "plugbox.json"), JSON.stringify({ permissions }));
  return folder;
}

/** A folder of libraries: `libz.so.1.2.13`, and `libz.so.1` a link to it, as a system has. */
async function libraries() {
  const folder = await tempFolder("plugbox-r137-libs-");
  await Deno.writeFile(join(folder.path, "libz.so.1.2.13"), new Uint8Array(8));
  await Deno.symlink("libz.so.1.2.13", join(folder.path, "libz.so.1"));
  await Deno.writeFile(join(folder.path, "libz.so.10"), new Uint8Array(8));
  return folder;
}

/** Whether a start granted `ffi` of a plugin requesting `requested` passes the manifest review. */
async function ffiPasses(requested: string, ffi: string): Promise<boolean> {
  await using plugin = await helloAsking({ ffi: [{ value: requested, reason: "compresses" }] });
  try {
    await previewStart(join(plugin.path, "main.ts"), {
      isolation: "deno",
      permissions: { ffi: [ffi] },
      unsafe: { ffi: true },
    });
    return true;
  } catch (error) {
    if (error instanceof PreflightError && error.reason === "manifest") return false;
    throw error;
  }
}

Deno.test("r137: an ffi grant of the very path the manifest requests passes, in every spelling of it", async () => {
  await using libs = await libraries();
  const link = join(libs.path, "libz.so.1");
  // The manifest's spelling and the host's are the same; the grant is the link's real path. It was
  // compared as spelled with the request: `ffi ".../libz.so.1.2.13" not requested (its plugbox.json
  // requests ffi ".../libz.so.1")`, for the one file either names.
  assert.ok(await ffiPasses(link, link));
  assert.ok(await ffiPasses(link, join(libs.path, "libz.so.1.2.13")));
  assert.ok(await ffiPasses(`${libs.path}//./libz.so.1`, link));
  assert.ok(await ffiPasses(`${libs.path}/../${libs.path.split("/").pop()}/libz.so.1`, link));
  // A folder requested covers the libraries in it, as Deno's --allow-ffi of a folder does.
  assert.ok(await ffiPasses(`${libs.path}/`, link));
});

Deno.test("r137: an ffi request covers no more than it names: not a neighbour its name is a prefix of", async () => {
  await using libs = await libraries();
  assert.equal(await ffiPasses(join(libs.path, "libz.so.1"), join(libs.path, "libz.so.10")), false);
  assert.equal(await ffiPasses(`${libs.path}x`, join(libs.path, "libz.so.1")), false);
});

Deno.test("r137: a relative ffi request is refused like a relative read or write request", async () => {
  // Made canonical, it would be resolved against the host's working folder, which the plugin's
  // author cannot know: read and write requests must be absolute for that reason.
  await using plugin = await helloAsking({ ffi: [{ value: "libz.so.1", reason: "compresses" }] });
  await assert.rejects(
    previewStart(join(plugin.path, "main.ts"), { isolation: "deno" }),
    (error: unknown) =>
      error instanceof PreflightError &&
      /asks for ffi "libz\.so\.1": paths must be absolute/.test(error.message),
  );
});

const RUN = { unsafe: { run: true }, cwd: "/tmp" };

Deno.test("r137: a run grant is one program in every spelling the kernel and Deno read as it", () => {
  // Repeated and trailing slashes and "." name the same program to both; plugbox kept each
  // spelling: one program was two grants, and a lock or manifest naming one refused the other.
  for (const spelled of ["/usr//bin/ls", "/usr/bin/ls/", "/usr/bin/./ls", "//usr/bin/ls//."]) {
    assert.deepEqual(resolveGrants({ run: [spelled] }, RUN).run, ["/usr/bin/ls"], spelled);
  }
  assert.deepEqual(
    resolveGrants({ run: ["/usr/bin/ls", "/usr//bin/ls", "./../usr/bin/ls"] }, RUN).run,
    ["/tmp/../usr/bin/ls", "/usr/bin/ls"],
  );
  assert.deepEqual(resolveGrants({ run: ["./tool"] }, RUN).run, ["/tmp/tool"]);
  // A manifest's request in another spelling of it covers it; a prefix string of it does not.
  const grants = resolveGrants({ run: ["/usr//bin/ls"] }, RUN);
  const asking = (value: string) => ({ permissions: { run: [{ value, reason: "lists" }] } });
  assert.deepEqual(reviewGrants(asking("/usr/bin/./ls/"), grants), []);
  assert.deepEqual(reviewGrants(asking("/usr/bin/l"), grants), [
    { kind: "run", value: "/usr/bin/ls" },
  ]);
});

Deno.test('r137: a run grant whose ".." climbs out of a link is refused: Deno would run another program', async () => {
  // Deno reads ".." by name: granted "dir/link/../tool", it let the plugin run "dir/tool" too,
  // where the kernel's reading of the grant is "other/tool" (and nothing, for a dangling link).
  await using base = await tempFolder("plugbox-r137-run-");
  for (const dir of ["dir/sub", "other/deep"]) {
    await Deno.mkdir(join(base.path, dir), { recursive: true });
  }
  for (const tool of ["dir/tool", "other/tool"]) {
    await Deno.writeTextFile(join(base.path, tool), "#!/bin/sh\n", { mode: 0o755 });
  }
  await Deno.symlink(join(base.path, "other/deep"), join(base.path, "dir/link"));
  await Deno.symlink(join(base.path, "nowhere/deep"), join(base.path, "dir/gone"));
  for (const [via, runs] of [["link", `"${base.path}/other/tool"`], ["gone", "nothing now"]]) {
    assert.throws(
      () => resolveGrants({ run: [join(base.path, "dir", via) + "/../tool"] }, RUN),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.includes(`Deno would also let the plugin run "${base.path}/dir/tool"`) &&
        error.message.includes(`where the system runs ${runs}; name the program without ".."`),
      via,
    );
  }
  // A ".." out of a folder is read alike by both, and kept as spelled (an OS layer judges the way).
  const kept = `${base.path}/dir/sub/../tool`;
  assert.deepEqual(resolveGrants({ run: [kept] }, RUN).run, [kept]);
});

Deno.test("r137: a run grant of a bare name is refused, not put in the host's working folder", () => {
  // `run: ["ls"]` became `/tmp/ls`: a program no one named, granted if it is there, while the
  // PATH's ls the host meant was denied.
  assert.throws(
    () => resolveGrants({ run: ["ls"] }, RUN),
    (error: unknown) =>
      error instanceof TypeError &&
      /^Cannot grant run "ls": a program is granted by its path, not its name \(the host's PATH finds "\/[^"]*\/ls"\)$/
        .test(error.message),
  );
});

/** `plug <args>` run in `cwd`, as a person at a shell runs it. */
async function plug(args: string[], cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(repo, "deno.json"), join(repo, "cli.ts"), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("r137: plug's hint for a denied relative argument names the path the grant covers, through a link", async () => {
  await using work = await tempFolder("plugbox-r137-cwd-");
  await Deno.mkdir(join(work.path, "data"));
  await Deno.writeTextFile(join(work.path, "data/hi.txt"), "hi\n");
  await Deno.symlink("data", join(work.path, "latest"));
  const hello = join(repo, "plugins/hello/main.ts");
  const args = ["call", hello, "greeter.readGreeting", '"latest/hi.txt"', "--allow-read=./data"];
  const out = await plug([...args, "--manifest=ignore"], work.path);
  assert.equal(out.code, 4, out.stderr);
  // Compared as a string with the grant's real path, "latest/hi.txt" got no hint; and the path to
  // pass is the one Deno allows, which checks the name, not where a link leads.
  assert.ok(out.stderr.includes(`hint: argument 1 "latest/hi.txt" is a relative path`), out.stderr);
  assert.ok(out.stderr.includes(`absolute path: "${work.path}/data/hi.txt"`), out.stderr);
});

const ALIAS_HOST = new URL("./_r137_alias_host.ts", import.meta.url).pathname;

// The same folder at two paths: a bind mount (a container's volume, a devcontainer's workspace).
// Every check of a grant against code, plugbox's sealing key, another plugin's folder and a folder
// another start may write compared canonical paths as strings, and a canonical path does not see
// a mount: each was granted.
Deno.test("r137: a grant through a second mount of a folder is judged as the folder it is", async () => {
  await using base = await tempFolder("plugbox-r137-alias-");
  const [code, alias, other] = ["code", "alias", "other"].map((name) => join(base.path, name));
  const folders = [join(code, "projects", "b"), join(code, "shared", "sub"), join(code, "else")];
  for (const dir of [...folders, alias, other]) await Deno.mkdir(dir, { recursive: true });
  for (const folder of [join(code, "projects", "b"), other]) {
    for (const name of ["main.ts", "contract.ts"]) {
      await Deno.copyFile(join(repo, "plugins/hello", name), join(folder, name));
    }
  }
  const host = [Deno.execPath(), "run", "-A", "--config", join(repo, "deno.json"), ALIAS_HOST];
  const results = await underBinds([[code, alias]], [
    ...host,
    JSON.stringify({ code, alias, other }),
  ]);
  assert.match(
    results.writeCache,
    /^Cannot grant write ".*\/alias\/cache": it overlaps ".*\/code\/cache\/plugbox" \(one folder, at both paths\), which holds code/,
  );
  assert.match(
    results.readKey,
    /^Cannot grant ".*\/alias\/cache" without a lock: it covers plugbox's sealing key/,
  );
  assert.match(
    results.writeOthersFolder,
    /^Cannot grant write ".*\/alias\/projects": it overlaps ".*\/code\/projects\/b", code of a plugin started in this process/,
  );
  assert.match(
    results.readInsideWrite,
    /^Cannot grant read ".*\/code\/shared\/sub": it lies inside ".*\/alias\/shared", which a plugin was given to write/,
  );
  assert.match(
    results.readThroughLink,
    /^Cannot grant read ".*\/code\/shared\/link": it leads through the link ".*\/code\/shared\/link" inside the write grant ".*\/alias\/shared"/,
  );
});

// A relative cacheDir is resolved against the host's working folder when the start reads it. The
// approval found the cache a second time, after planning, while the plan's checks and snapshot had
// used the first: a host that changed folder meanwhile (here, from a getter it passed) had its
// approval sealed with another cache's key, and its next locked start was refused as tampered.
Deno.test("r137: an approval is sealed with the key of the cache its plan used, found once", async () => {
  await using work = await tempFolder("plugbox-r137-approve-");
  const [first, second] = [join(work.path, "first"), join(work.path, "second")];
  for (const dir of [first, second]) await Deno.mkdir(join(dir, "cache"), { recursive: true });
  const lock = { path: join(work.path, "plugbox.lock") };
  const hello = join(repo, "plugins/hello/main.ts");
  const before = Deno.cwd();
  Deno.chdir(first);
  try {
    await approvePlugin(hello, {
      cacheDir: "cache",
      isolation: "deno",
      lock,
      permissions: {
        get read() {
          Deno.chdir(second); // the host moves while the start is planned
          return [];
        },
      },
    });
  } finally {
    Deno.chdir(before);
  }
  const cacheDir = join(first, "cache");
  await using plugin = await startPlugin(hello, {
    contracts: [Greeter],
    cacheDir,
    isolation: "deno",
    lock: { ...lock, policy: "refuse" },
  });
  assert.equal(await plugin.api(Greeter).sayHello("r137"), "hello, r137");
});

// A module spelled oddly is refused with plugbox's TypeError naming it, not an error of Deno's or
// node's: "%ZZ" was a bare URIError, "main.ts/" Deno's NotADirectory, "%00" Deno's TypeError
// with the NUL in it raw.
Deno.test("r137: a module's odd spelling is refused with a TypeError that names it", async () => {
  const hello = join(repo, "plugins/hello/main.ts");
  const refusals: [string, RegExp][] = [
    [`file://${hello.replace("main.ts", "ma%ZZin.ts")}`, /names no local path \(URI malformed\)$/],
    [`file://${hello.replace("main.ts", "a%2Fb.ts")}`, /names no local path \(File URL path/],
    [`file://${hello.replace("main.ts", "ma%00in.ts")}`, /ma\\x00in\.ts" holds a NUL$/],
    [`${hello}/`, /^Cannot start plugin: module ".*\/main\.ts\/" does not exist$/],
  ];
  for (const [module, message] of refusals) {
    await assert.rejects(
      previewStart(module, { isolation: "deno" }),
      (error: unknown) =>
        error instanceof TypeError && error.message.startsWith("Cannot start plugin: ") &&
        message.test(error.message),
      module,
    );
  }
});
