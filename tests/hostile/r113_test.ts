// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
// Review 113: attacks on reviews 109 to 111's fixes. Each test failed on the code it was written
// against (9a004a0).
import { pathFolders } from "../../runner/sandbox/path_programs.ts";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "npm:zod@^4.1.0";
import { previewStart, startPlugin } from "../../mod.ts";
import { defineContract } from "../../contract.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache, threadCpuMs, within } from "../_helpers.ts";
import { EgressProxy } from "../../runner/host/egress_proxy.ts";
import { hostile, ISOLATIONS } from "./_hostile.ts";
import { realPython, tempFolder, withPython } from "./_python_shim.ts";
import { settled } from "./_settled.ts";

/**
 * A folder first on the host's PATH whose `python3` is a link through `alt/` to `real/python3`
 * (as `~/.local/bin` links into a virtual environment, `/usr/bin` through `/etc/alternatives`).
 */
async function linkedOnPath<T>(use: (tool: string) => Promise<T>): Promise<T> {
  const tool = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r113-tool-" }));
  for (const dir of ["bin", "alt", "real"]) await Deno.mkdir(join(tool, dir));
  await Deno.writeTextFile(join(tool, "real/python3"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  await Deno.symlink(join(tool, "real/python3"), join(tool, "alt/python3"));
  await Deno.symlink("../alt/python3", join(tool, "bin/python3"));
  const path = Deno.env.get("PATH");
  Deno.env.set("PATH", `${join(tool, "bin")}:${path}`);
  try {
    return await use(tool);
  } finally {
    Deno.env.set("PATH", path!);
    await Deno.remove(tool, { recursive: true });
  }
}

// Review 110 counted the PATH folders as code, not where a link in one leads: the host runs the
// file at the end, and a plugin that could write a folder on the way replaced what ran.
for (const isolation of ISOLATIONS) {
  Deno.test(`r113 [${isolation}]: a write grant over a folder a link on the host's PATH leads through is refused`, async () => {
    await using cache = await freshCache();
    const outside = await Deno.makeTempDir({ prefix: "plugbox-r113-marker-" });
    const marker = join(outside, "ran-as-host");
    try {
      await linkedOnPath(async (tool) => {
        for (const folder of ["real", "alt"]) {
          const granted = join(tool, folder);
          const started = await startPlugin(hostile("r113_replaces_program.ts"), {
            contracts: [Probe],
            isolation,
            cacheDir: cache.path,
            permissions: { write: [granted] },
            unsafe: { writeAsRoot: true },
          }).catch((error: unknown) => error);
          if (!(started instanceof Error)) {
            await using plugin = started as Awaited<ReturnType<typeof startPlugin>>;
            const script = `#!/bin/sh\necho "$0 $*" > ${marker}\nexit 1\n`;
            const planted = await plugin.api(Probe).attempt(`${granted}/python3|${script}`);
            assert.equal(planted, "planted");
          }
          // The host's next plugin in Python: "python3" is found on PATH and asked, on the host,
          // where its library lies.
          await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path }).catch(() => {});
          assert.ok(!existsSync(marker), `the plugin's program ran as the host (${folder})`);
          assert.ok(started instanceof TypeError, String(started));
          assert.match(
            started.message,
            /^Cannot grant write ".*": it overlaps ".*", which holds code/,
          );
        }
      });
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
}

/** What defineContract says of a method answering `output`. */
function defined(output: z.ZodType): string {
  try {
    defineContract({ name: "t", version: 1, methods: { m: z.function({ input: [], output }) } });
    return "defined";
  } catch (error) {
    return (error as Error).message;
  }
}

// Review 109 refused a template with two parts of unbounded length and advised .max(); two parts
// bounded generously backtrack through each other all the same: 40,002 characters against two
// strings of .max(20_000) took the host's thread 0.6 s, as two unbounded ones did.
Deno.test("r113: a template literal whose bounded parts split its text too many ways is refused", () => {
  const wide = [
    z.templateLiteral([z.string().max(20_000), "-", z.string().max(20_000)]),
    z.templateLiteral([z.string().max(20_000), z.number()]),
    z.templateLiteral([z.string().max(100), z.string().max(100), z.string()]),
  ];
  const start = threadCpuMs({ settled: true });
  const check = wide[0].safeParse("-".repeat(40_002)).success;
  const ms = threadCpuMs({ settled: true }) - start;
  assert.ok(!check && ms > 100, `the check took ${ms} ms`); // what the refusal spares the host
  for (const template of wide) {
    assert.match(
      defined(template),
      /^Cannot define contract "t": .*z\.templateLiteral .*bound its strings with \.max\(\).* 4096/,
    );
  }
  const fast = [
    z.templateLiteral([z.string().max(64), "-", z.number()]),
    z.templateLiteral([z.string().max(1_000_000)]),
    z.templateLiteral([z.string().max(40), "-", z.string().max(40), "-", z.string()]),
    z.templateLiteral(["(?:", z.string(), "?"]),
  ];
  for (const template of fast) assert.equal(defined(template), "defined");
});

// The PATH folders' links are read once and kept while the folders read are unchanged (reading
// them all cost each start 7 to 25 ms). A link on the way pointed elsewhere is read again: its
// folder is watched as well as the PATH folder, whose own link did not change.
Deno.test("r113: a link on the way from a PATH folder pointed elsewhere is followed again", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r113-watch-" }));
  try {
    for (const folder of ["bin", "alt", "real", "other"]) await Deno.mkdir(join(dir, folder));
    await Deno.symlink(join(dir, "alt", "tool"), join(dir, "bin", "tool"));
    await Deno.symlink(join(dir, "real", "tool"), join(dir, "alt", "tool"));
    const path = `${join(dir, "bin")}:/usr/bin`;
    await settled(...["bin", "alt", "real", "other"].map((folder) => join(dir, folder)));
    assert.ok(pathFolders(path).includes(join(dir, "real")));
    await Deno.remove(join(dir, "alt", "tool"));
    await Deno.symlink(join(dir, "other", "tool"), join(dir, "alt", "tool"));
    const again = pathFolders(path);
    assert.ok(
      again.includes(join(dir, "other")),
      again.filter((f) => f.startsWith(dir)).join(", "),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// A version manager's shim on PATH (pyenv's python3 is a shell script) runs code from places no
// grant knows as code (its libexec, its hooks, versions/…/lib), which a Deno plugin may be
// granted to write; the host's probe of a Python plugin's interpreter ran that code as the host.
// The probe runs in bubblewrap now, the file system read-only: what it leaves is nowhere.
Deno.test("r113: a Python shim's own code runs in a read-only sandbox when the host asks it where its library is", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r113-shim-");
  const real = await realPython();
  await Deno.mkdir(join(dir.path, "bin"));
  await Deno.mkdir(join(dir.path, "libexec"));
  // The hook a plugin granted the manager's folder left: it writes beside itself.
  const marker = join(dir.path, "libexec", "ran-as-host");
  await Deno.writeTextFile(join(dir.path, "libexec", "hook.sh"), `echo "$*" > ${marker}\n`);
  const shim = `#!/bin/sh\n. ${join(dir.path, "libexec", "hook.sh")}\nexec ${real} "$@"\n`;
  await withPython(join(dir.path, "bin"), shim, async () => {
    const plan = await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path });
    assert.ok(plan.command.length > 0);
    assert.ok(!existsSync(marker), `the shim's hook ran as the host: ${existsSync(marker)}`);
  });
});

// What the sandboxed probe answers is a claim: a library folder that holds no os.py (a shim's
// lie naming /etc) would be mounted into the Python plugin's sandbox.
Deno.test("r113: a Python probe's answer naming a library without os.py is refused", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r113-lie-");
  const lie = JSON.stringify({
    executable: "/bin/sh",
    stdlib: "/etc",
    platstdlib: "/etc",
    purelib: "/etc/x",
    platlib: "/etc/x",
  });
  await withPython(dir.path, `#!/bin/sh\necho '${lie}'\n`, async () => {
    await assert.rejects(
      previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path }),
      /did not say where its interpreter is/,
    );
  });
});

// The egress proxy read the host's own addresses once, as its plugin started: one the host gained
// later (a VPN coming up, IPv6's daily addresses) was a plugin's to reach through it.
Deno.test("r113: the egress proxy refuses an own address the host gained after it started", async () => {
  if (Deno.uid() !== 0) return; // only root adds an address here: nothing to show
  const gained = "192.0.2.213";
  const service = Deno.serve(
    { hostname: "0.0.0.0", port: 0, onListen() {} },
    () => new Response("own"),
  );
  const proxy = new EgressProxy({
    mode: "port",
    rules: [{ host: "api.example.test", port: service.addr.port }],
    privateNetwork: false,
    port: 0,
  }, { plugin: "p", resolve: () => Promise.resolve([gained]) });
  const ip = (...args: string[]) => new Deno.Command("ip", { args, stderr: "null" }).output();
  try {
    assert.ok((await ip("addr", "add", `${gained}/32`, "dev", "lo")).success, "ip addr add");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port! });
    await conn.write(new TextEncoder().encode(
      `CONNECT api.example.test:${service.addr.port} HTTP/1.1\r\n\r\n`,
    ));
    const head = new Uint8Array(64);
    const n = await within(conn.read(head), 10_000, "the proxy's answer");
    conn.close();
    assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 403 /);
  } finally {
    await ip("addr", "del", `${gained}/32`, "dev", "lo");
    await proxy.close();
    await service.shutdown();
  }
});
