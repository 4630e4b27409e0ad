// A host made with `deno compile` is its own binary, not Deno: plugbox must
// run plugins with a real Deno (found on PATH, or named by PLUGBOX_DENO) and
// say how to name one when there is none.
//
// `deno compile` needs denort, the runtime it embeds the program in, which
// Deno downloads from its release server on first use (it is on no package
// registry). That server is out of reach on the machines this project is
// built on, so this test is not part of `deno task test` (a test that cannot
// run there would only be skipped): run it with `deno task test:compile`
// where denort can be had (DENORT_BIN, or Deno's cache). Without denort it
// fails and says so. The choice of binary itself is tested without
// compiling in tests/sandbox/deno_binary_test.ts, in the main suite.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../", import.meta.url));

function cachedDenort(): string | undefined {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit) return explicit;
  const denoDir = Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/", ".cache/deno");
  const zip = join(
    denoDir,
    `dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`,
  );
  try {
    Deno.statSync(zip);
    return zip;
  } catch {
    return undefined;
  }
}

const denort = cachedDenort();

async function run(command: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test({
  name:
    "a deno compile'd host starts a plugin with deno from PATH or PLUGBOX_DENO, and says how to name one when there is none",
  async fn() {
    assert.ok(
      denort !== undefined,
      "deno compile needs denort: set DENORT_BIN to its path or zip, or let Deno download it once",
    );
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-compiled-" }));
    try {
      const host = join(dir, "host");
      const compiled = await run(Deno.execPath(), [
        "compile",
        "--allow-all",
        "--output",
        host,
        join(repo, "tests/fixtures/start_hello.ts"),
      ], Deno.env.toObject());
      assert.equal(compiled.code, 0, compiled.stderr);
      // A PATH with the sandbox's tools and no deno.
      const bin = join(dir, "bin");
      await Deno.mkdir(bin);
      for (const tool of ["bwrap", "prlimit", "setsid", "setpriv", "ldd"]) {
        const found = (await run("sh", ["-c", `command -v ${tool}`], Deno.env.toObject())).stdout;
        if (found.trim()) await Deno.symlink(found.trim(), join(bin, tool));
      }
      const hello = join(repo, "plugins/hello/main.ts");
      const base = {
        HOME: Deno.env.get("HOME")!,
        PATH: bin,
        PLUGBOX_CACHE_DIR: join(dir, "cache"),
      };
      const none = await run(host, [hello], base);
      assert.match(none.stdout, /deno compile'd binary, not Deno; no "deno" was found on PATH/);
      assert.match(none.stdout, /PLUGBOX_DENO/);
      const named = await run(host, [hello], { ...base, PLUGBOX_DENO: Deno.execPath() });
      assert.equal(named.stdout, "hello, a\n", named.stderr);
      await Deno.symlink(Deno.execPath(), join(bin, "deno"));
      const onPath = await run(host, [hello], base);
      assert.equal(onPath.stdout, "hello, a\n", onPath.stderr);
    } finally {
      await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
