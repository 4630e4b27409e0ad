// The start path pays only for what it needs: under isolation "deno" no
// bubblewrap probe and, without an env grant, no library lookup (ldd);
// otherwise each runs at most once per host process.
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshCache } from "../_helpers.ts";

const HOST = new URL("../fixtures/start_path.ts", import.meta.url).pathname;

/** Runs the fixture host with recording `bwrap` and `ldd` first on PATH; returns what each ran. */
async function hostRun(
  args: string[],
): Promise<{ bwrap: number; ldd: number; lddOf: string[]; out: string }> {
  const bin = await Deno.makeTempDir({ prefix: "plugbox-start-path-" });
  try {
    for (const tool of ["bwrap", "ldd"]) {
      const real = new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`] }).output()).stdout,
      ).trim();
      const script = `#!/bin/sh\necho "run $*" >> "${
        join(bin, `${tool}.log`)
      }"\nexec "${real}" "$@"\n`;
      await Deno.writeTextFile(join(bin, tool), script, { mode: 0o755 });
    }
    await using cache = await freshCache();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", HOST, args[0], cache.path, ...args.slice(1)],
      env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const lines = (tool: string) =>
      Deno.readTextFile(join(bin, `${tool}.log`)).then((t) => t.split("\n").slice(0, -1), () => []);
    const lddOf = await lines("ldd");
    return { bwrap: (await lines("bwrap")).length, ldd: lddOf.length, lddOf, out: text };
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test('isolation "deno": no bubblewrap probe and no library lookup on the start path', async () => {
  const run = await hostRun(["deno", "2"]);
  assert.equal(run.out, "hello, 0\nhello, 1\n");
  assert.equal(run.bwrap, 0, "no bubblewrap probe");
  assert.equal(run.ldd, 0, "no ldd");
});

Deno.test("an env grant looks the libraries up once per host process", async () => {
  const run = await hostRun(["deno", "2", "env"]);
  assert.equal(run.out, "hello, 0\nhello, 1\n");
  assert.equal(run.bwrap, 0);
  // Deno's, and the host's bash where the prologue may run it (review 121): once each.
  assert.ok(run.ldd >= 1, "ldd for Deno's libraries");
  assert.equal(
    new Set(run.lddOf).size,
    run.ldd,
    `ldd once per program for two starts: ${run.lddOf}`,
  );
});

Deno.test('isolation "auto": the bubblewrap probe runs once per host process, then plugins', async () => {
  const run = await hostRun(["auto", "2"]);
  assert.equal(run.out, "hello, 0\nhello, 1\n");
  // One probe, one graph check (the second start reuses its verdict), two runs.
  assert.equal(run.bwrap, 4);
  // Deno's and the sandbox's own sh's (GO_STEP in layers.ts): once each for both starts.
  assert.equal(run.ldd, 2, "ldd once per program, for the OS layer's mounts");
});
