// Review 110: a grant that reaches more than it names, from a plugin granted something narrow.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
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
