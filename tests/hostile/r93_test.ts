// Review 93: attacks on the fixes of reviews 86 to 89.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PreflightError, startPlugin } from "../../mod.ts";
import { checkGrantLinks } from "../../runner/sandbox/grant_links.ts";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import type { ResolvedGrants } from "../../runner/sandbox/permissions.ts";
import { Probe } from "./plugins/probe.ts";
import { movesAndRead } from "./_moves.ts";
import { hostile, plantSecrets, pluginFolder, SECRET_DIR } from "./_hostile.ts";

Deno.test('grant links [deno]: a ".." after a link that leads nowhere yet climbs from where the plugin makes it lead', async () => {
  await plantSecrets();
  await using out = await pluginFolder({});
  await using data = await pluginFolder({});
  // In a folder the plugin may only read: "a" leads to a folder the plugin may make in its write
  // grant, and "l" climbs out of "a". Judged by its spelling, "l" stays in the read grant.
  const deep = join(data.dir, "p", "q");
  await Deno.mkdir(deep, { recursive: true });
  await Deno.symlink(join(out.dir, "missing"), join(deep, "a"));
  await Deno.symlink(`a/../../${SECRET_DIR.split("/").pop()}/secret.txt`, join(deep, "l"));
  const outcome = await movesAndRead(
    [out.dir],
    [data.dir],
    `mkdir ${out.dir}/missing|read ${deep}/l`,
  );
  assert.ok(outcome instanceof PreflightError, `the plugin read: ${outcome}`);
  assert.equal(outcome.reason, "grant-link");
});

Deno.test("grant links [deno]: a link in a folder a host not root may list but not search, in a write grant, is refused: the plugin may chmod it", async () => {
  // As a host not root: root reads every link. A folder of mode 0444 is listed, so the walk sees
  // the link, but its target cannot be read; the plugin, the host's user, may make the folder
  // searchable with its write grant (chmod) and read through the link.
  const links = fileURLToPath(new URL("../../runner/sandbox/grant_links.ts", import.meta.url));
  const home = await Deno.makeTempDir({ prefix: "r93-unsearchable-" });
  await Deno.chmod(home, 0o777);
  const script = `import { checkGrantLinks } from ${JSON.stringify(links)};
const g = Deno.makeTempDirSync({ dir: ${JSON.stringify(home)} });
Deno.mkdirSync(g + "/d");
Deno.symlinkSync("/etc/hostname", g + "/d/l");
Deno.chmodSync(g + "/d", 0o444);
const grants = { read: [g], write: [g], net: [], env: {}, sys: [], run: [], ffi: [], all: false };
try {
  checkGrantLinks("p", grants);
  Deno.chmodSync(g + "/d", 0o755); // what the plugin does next
  console.log("accepted, and the link reads", Deno.readTextFileSync(g + "/d/l").length, "bytes");
} catch (error) {
  console.log(error.name, error.reason, error.message);
}
Deno.chmodSync(g + "/d", 0o755);`;
  const asUser = Deno.uid() === 0
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    : [];
  try {
    const child = await new Deno.Command(asUser[0] ?? Deno.execPath(), {
      args: [...asUser.slice(1), ...(asUser.length ? [Deno.execPath()] : []), "eval", script],
      env: { DENO_DIR: join(home, "deno_dir"), HOME: home },
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(child.stdout);
    assert.ok(child.success, new TextDecoder().decode(child.stderr));
    assert.match(out, /^PreflightError grant-link .*which the host cannot read to check/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/** Two plugins under the Deno layer: one reads `read`, the other reads and writes `write`. */
async function readerAndMover(
  read: string[],
  write: string[],
  readerFirst: boolean,
  steps: { moves: string; read: string },
): Promise<unknown> {
  const start = (permissions: { read: string[]; write?: string[] }) =>
    startPlugin(hostile("r86_moves.ts"), {
      contracts: [Probe],
      isolation: "deno",
      permissions,
      unsafe: { writeAsRoot: true },
    });
  try {
    const first = await start(readerFirst ? { read } : { read: write, write });
    await using _first = first;
    const second = await start(readerFirst ? { read: write, write } : { read });
    await using _second = second;
    const [reader, mover] = readerFirst ? [first, second] : [second, first];
    const moved = await mover.api(Probe).attempt(steps.moves);
    assert.equal(moved, "", moved);
    return await reader.api(Probe).attempt(steps.read);
  } catch (error) {
    return error;
  }
}

for (const readerFirst of [true, false]) {
  Deno.test(
    `grant links [deno]: a ".." that climbs out of a folder another plugin may write is refused (${
      readerFirst ? "reader" : "writer"
    } started first)`,
    async () => {
      await plantSecrets();
      await using shared = await pluginFolder({});
      await using data = await pluginFolder({});
      // The writer's second folder, one below the secret: a link to it, moved in place of a folder
      // the reader's link climbs out of, makes the climb end beside the secret.
      const high = await Deno.realPath(await Deno.makeTempDir({ dir: SECRET_DIR, prefix: "r93-" }));
      try {
        await Deno.mkdir(join(shared.dir, "d", "e"), { recursive: true });
        await Deno.symlink(high, join(high, "q")); // in the writer's grant alone
        // Now "<shared>/secret.txt", in the reader's grant.
        await Deno.symlink(`${shared.dir}/d/e/../../secret.txt`, join(data.dir, "l"));
        const outcome = await readerAndMover(
          [shared.dir, data.dir],
          [shared.dir, high],
          readerFirst,
          {
            moves: `rm ${shared.dir}/d|mv ${high}/q ${shared.dir}/d|mkdir ${high}/e`,
            read: `read ${data.dir}/l`,
          },
        );
        assert.ok(outcome instanceof Error, `the reader read: ${outcome}`);
        assert.match(outcome.message, /climbs/);
      } finally {
        await Deno.remove(high, { recursive: true });
      }
    },
  );
}

Deno.test('grant links: a link that climbs with ".." many times is judged in one walk, not one a ".."', async () => {
  await using data = await pluginFolder({});
  await using out = await pluginFolder({});
  await Deno.mkdir(join(data.dir, "a"));
  // 4 KB, 800 climbs, within the walk's budget 1,100 times over: each ".." judged apart held the
  // host's thread past 300 s (resolving its whole way again, name by name).
  const target = "a/../".repeat(800) + "a";
  for (let i = 0; i < 1_100; i++) await Deno.symlink(target, join(data.dir, `l${i}`));
  const grants = {
    read: [data.dir, out.dir],
    write: [out.dir],
    net: [],
    env: {},
    sys: [],
    run: [],
    ffi: [],
    all: false,
  } as unknown as ResolvedGrants;
  const started = performance.now();
  checkGrantLinks("p", grants);
  const ms = performance.now() - started;
  assert.ok(ms < 20_000, `the check took ${Math.round(ms)} ms`);
});

/** Sets the extended attribute `name` of `path` to `value`, as the host (libc's setxattr). */
function setAttribute(libc: string, path: string, name: string, value: string): void {
  const lib = Deno.dlopen(libc, {
    setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  });
  try {
    const text = (s: string) => new TextEncoder().encode(s + "\0");
    const bytes = new TextEncoder().encode(value);
    const done = lib.symbols.setxattr(text(path), text(name), bytes, BigInt(bytes.length), 0);
    assert.equal(done, 0, `setxattr ${path} failed`);
  } finally {
    lib.close();
  }
}

Deno.test("R93 [landlock]: native code reads no extended attribute of a file outside its rules, by any path call", async () => {
  await plantSecrets();
  const libc = Deno.realPathSync((await libcOf(Deno.realPathSync(Deno.execPath())))!);
  await using scratch = await pluginFolder({});
  // A file outside every rule, whose attribute holds a secret (a token, a download's origin).
  const secret = join(SECRET_DIR, `r93-xattr-${crypto.randomUUID()}.txt`);
  await Deno.writeTextFile(secret, "x\n");
  try {
    setAttribute(libc, secret, "user.token", "TOP-SECRET-XATTR");
    await using plugin = await startPlugin(hostile("r93_landlock.ts"), {
      contracts: [Probe],
      isolation: "landlock",
      permissions: { ffi: [libc], read: [scratch.dir], write: [scratch.dir] },
      unsafe: { ffi: true, writeAsRoot: true },
    });
    const probe = plugin.api(Probe);
    const seen = {
      getxattr: await probe.attempt(`getxattr ${secret} user.token ${libc}`),
      lgetxattr: await probe.attempt(`lgetxattr ${secret} user.token ${libc}`),
      listxattr: await probe.attempt(`listxattr ${secret} - ${libc}`),
    };
    assert.deepEqual(seen, {
      getxattr: "getxattr: errno 95",
      lgetxattr: "lgetxattr: errno 95",
      listxattr: "listxattr: errno 95",
    });
  } finally {
    await Deno.remove(secret);
  }
});
