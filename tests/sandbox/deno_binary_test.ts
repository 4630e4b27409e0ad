// Which Deno binary plugins run with: the host's own, one named by option,
// PLUGBOX_DENO or plug --deno=, and, in a deno compile'd host, deno on PATH.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { chooseDeno, resolveDeno } from "../../runner/sandbox/deno_binary.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const HELLO = join(repo, "plugins/hello/main.ts");

/** A copy of Deno at another path, in a folder of its own (as a separate install would be). */
async function denoCopy(): Promise<{ path: string; bin: string } & AsyncDisposable> {
  const bin = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-deno-" }));
  const path = join(bin, "deno");
  await Deno.copyFile(Deno.execPath(), path);
  await Deno.chmod(path, 0o755);
  return { path, bin, [Symbol.asyncDispose]: () => Deno.remove(bin, { recursive: true }) };
}

Deno.test("chooseDeno(): option, then PLUGBOX_DENO, then the host itself, and deno on PATH only in a compiled host", async () => {
  await using copy = await denoCopy();
  const base = { execPath: "/opt/app/host", path: `/nowhere:${copy.bin}` };
  assert.equal(chooseDeno({ ...base, standalone: false }).path, "/opt/app/host");
  assert.equal(chooseDeno({ ...base, standalone: true }).path, copy.path);
  assert.equal(chooseDeno({ ...base, standalone: true, env: "/e/deno" }).path, "/e/deno");
  assert.equal(
    chooseDeno({ ...base, standalone: true, env: "/e/deno", option: "/o/deno" }).path,
    "/o/deno",
  );
});

Deno.test("resolveDeno() asks another Deno binary for its version once, and refuses a compiled host's own binary", async () => {
  await using copy = await denoCopy();
  const found = await resolveDeno({
    option: copy.path,
    execPath: Deno.execPath(),
    standalone: false,
  });
  assert.deepEqual(found, { path: copy.path, version: Deno.version.deno });
  await assert.rejects(
    resolveDeno({ execPath: copy.path, standalone: true, option: copy.path }),
    /is this host itself/,
  );
});

for (const isolation of ["deno", "os"] as const) {
  Deno.test(`a plugin runs with the Deno binary the "deno" option names (${isolation})`, async () => {
    await using copy = await denoCopy();
    await using plugin = await startPlugin(HELLO, {
      contracts: [Greeter],
      isolation,
      deno: copy.path,
    });
    assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a");
    const argv = [plugin.plan.command, ...plugin.plan.args];
    assert.ok(argv.includes(copy.path), argv.join(" "));
    assert.ok(
      !argv.includes(Deno.realPathSync(Deno.execPath())),
      "the host's own Deno is not used",
    );
  });
}

Deno.test("PLUGBOX_DENO and plug --deno= name the Deno binary too", async () => {
  await using copy = await denoCopy();
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(repo, "cli.ts"), "check", HELLO, "--json", ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)).command as string[];
  };
  assert.ok((await run([], { PLUGBOX_DENO: copy.path })).includes(copy.path));
  assert.ok((await run([`--deno=${copy.path}`])).includes(copy.path));
  const plan = await previewStart(HELLO);
  assert.ok(![plan.command, ...plan.args].includes(copy.path), "by default, the host's own");
});
