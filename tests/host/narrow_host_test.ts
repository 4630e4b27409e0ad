// A host with the README's narrowest flags: `--allow-run` is a list there, and Deno refuses
// `Deno.kill` to such a host. Every kill plugbox makes must still land (review 36: each was
// dropped silently, so a start's deadline, an abort and a stop waited forever for an exit, and
// the plugin ran on).
import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, freshCache, testDeadline, within } from "../_helpers.ts";
import { processesWith } from "../hostile/_hostile.ts";

/** The README's recommended host flags, read from its "Host permissions" block. */
function readmeFlags(cache: string): string[] {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const block = /<!-- check: run host\.ts -->\n\n```sh\n([\s\S]*?)\n```/.exec(readme)![1];
  return block.split(/\s+/).filter((word) => word.startsWith("--"))
    .map((flag) => flag.replace('"$HOME/.cache/plugbox"', cache));
}

for (const isolation of ["deno", "os"] as const) {
  Deno.test(`a host with the README's flags kills a plugin at the start's deadline, on an abort and at the end of a stop, and builds the code cache seed [${isolation}]`, async () => {
    testDeadline(60_000);
    await using cache = await freshCache();
    const flags = readmeFlags(cache.path);
    assert.ok(flags.some((flag) => flag.startsWith("--allow-run=")), flags.join(" "));
    const host = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        join(import.meta.dirname!, "../fixtures/narrow_kills_host.ts"),
        isolation,
      ],
      env: { PLUGBOX_CACHE_DIR: cache.path },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A host whose kills are dropped never ends: it is killed here (its plugins die with it).
    const out = await within(host.output(), 40_000, "the host, whose kills must land")
      .catch((error) => {
        host.kill("SIGKILL");
        throw error;
      });
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, stderr);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.case, l.settled.split(":")[0]]), [
      ["deadline", "TimeoutError"],
      ["abort", "TimeoutError"],
      // Under the OS layer SIGTERM reaches bubblewrap, which takes the sandbox down itself.
      ["stop", isolation === "os" ? "stopped" : "killed"],
    ]);
    // Its Deno ran through sh, as the plugins' do (review 38: Deno's real path is not `deno`).
    const seeds = [...Deno.readDirSync(join(cache.path, "sdk-seed"))].filter((e) => e.isDirectory);
    assert.ok(
      seeds.some((e) => exists(join(cache.path, "sdk-seed", e.name, "v8_code_cache_v2"))),
      "the SDK's code cache seed was built",
    );
    assert.deepEqual(processesWith("never_ready.ts"), [], "no plugin left running");
    assert.deepEqual(processesWith("t9_refuses_to_die.ts"), [], "no plugin left running");
  });
}
