// Review 110: a grant that reaches more than it names, from a plugin granted something narrow.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { resolveGrants } from "../../runner/sandbox/permissions.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import { hostile, ISOLATIONS } from "./_hostile.ts";

/** A folder first on the host's PATH (as `~/.local/bin` or `~/.cargo/bin` often are), for `use`. */
async function firstOnPath<T>(use: (bin: string) => Promise<T>): Promise<T> {
  const bin = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r110-bin-" }));
  const path = Deno.env.get("PATH");
  Deno.env.set("PATH", `${bin}:${path}`);
  try {
    return await use(bin);
  } finally {
    Deno.env.set("PATH", path!);
    await Deno.remove(bin, { recursive: true });
  }
}

for (const isolation of ISOLATIONS) {
  Deno.test(`r110 [${isolation}]: a write grant over a folder on the host's PATH is refused: a program left there runs as the host`, async () => {
    await using cache = await freshCache();
    const outside = await Deno.makeTempDir({ prefix: "plugbox-r110-marker-" });
    const marker = join(outside, "ran-as-host");
    try {
      await firstOnPath(async (bin) => {
        const started = await startPlugin(hostile("r110_plants_program.ts"), {
          contracts: [Probe],
          isolation,
          cacheDir: cache.path,
          permissions: { write: [bin] },
          unsafe: { writeAsRoot: true },
        }).catch((error: unknown) => error);
        if (!(started instanceof Error)) {
          await using plugin = started as Awaited<ReturnType<typeof startPlugin>>;
          const script = `#!/bin/sh\necho "$0 $*" > ${marker}\nexit 1\n`;
          assert.equal(await plugin.api(Probe).attempt(`${bin}/python3|${script}`), "planted");
        }
        // The host's next plugin in another language: its "python3" is looked up on PATH and asked,
        // on the host, where its library lies.
        await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path }).catch(() => {});
        assert.ok(
          !existsSync(marker),
          `the plugin's program ran as the host: ${
            existsSync(marker) && Deno.readTextFileSync(marker)
          }`,
        );
        assert.ok(started instanceof TypeError, String(started));
        assert.match(
          started.message,
          /^Cannot grant write ".*": it overlaps ".*", which holds code/,
        );
      });
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
}

// A grant was resolved twice: its real path (what Deno is given), then a walk for links planted
// inside a write grant. A link swapped between the two gave a grant of wherever the link led,
// the walk seeing a folder where the real path had gone through the link. One walk gives both.
Deno.test("r110: a read grant through a link swapped while it is resolved never grants where the link leads", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r110-swap-" }));
  const [written, secret] = [join(dir, "w"), join(dir, "secret")];
  await Deno.mkdir(join(written, "x"), { recursive: true });
  await Deno.mkdir(secret);
  await Deno.symlink(secret, join(written, "link"));
  // A process that swaps the folder x and the link to secret, both kept in place (renameat2's
  // exchange), as fast as it can, until its stdin closes.
  const swap = `import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
print("swapping", flush=True)
while not done.is_set():
    for _ in range(1000):
        libc.renameat2(-100, a, -100, b, 2)`;
  const swapper = new Deno.Command("python3", {
    args: ["-c", swap, join(written, "x"), join(written, "link")],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = swapper.stdout.getReader();
  try {
    await reader.read(); // "swapping"
    const granted = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      try {
        const grants = resolveGrants({ write: [written], read: [join(written, "x")] }, {
          unsafe: { writeAsRoot: true },
        });
        for (const path of grants.read) granted.add(path);
      } catch (error) {
        assert.match((error as Error).message, /link|no such file/);
      }
    }
    assert.ok(!granted.has(secret), `granted ${[...granted].join(", ")}`);
  } finally {
    await swapper.stdin.close();
    reader.releaseLock();
    await swapper.stdout.cancel();
    await swapper.status;
    await Deno.remove(dir, { recursive: true });
  }
});
