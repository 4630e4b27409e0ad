// Review 131 (THREATS T29): what a plugin makes Deno read through a source map's "sources". A
// module's source map, inline in a data: module made at run time, may name any file as the
// source of a frame; Deno reads the line the frame maps to (up to 150 characters) to show it,
// with no read permission and no module in any graph, and `Deno[Deno.internal].core
// .destructureError` hands that line to the plugin, in the main realm and in every Worker (a
// preload reaches none of node:worker_threads'). Only a kernel's view bounds it: closed under
// the OS and Landlock layers, documented (open) under the Deno layer.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun, plantSecrets, SECRET_DIR } from "./_hostile.ts";

const SECRET = `${SECRET_DIR}/secret.txt`;

async function attempt(isolation: "deno" | "os" | "landlock"): Promise<string> {
  await plantSecrets();
  await using cache = await freshCache();
  await using plugin = await startPlugin(hostile("t29_source_map_lines.ts"), {
    contracts: [Probe],
    isolation,
    cacheDir: cache.path,
  });
  return await plugin.api(Probe).attempt(SECRET);
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T29 [${isolation}]: a source map naming a file outside the plugin's view hands back none of its lines, in any realm (documented under the Deno layer)`, async () => {
    const outcome = await attempt(isolation);
    if (isolation === "deno") {
      // Documented: Deno reads the line and its internals hand it over, in every realm.
      assert.equal(outcome.match(/line "TOP-SECRET-TEXT"/g)?.length, 3, outcome);
      return;
    }
    assert.doesNotMatch(outcome, /TOP-SECRET/, outcome);
    // Each realm asked: the attack ran, and its answer was no line.
    assert.equal(outcome.match(/line null/g)?.length, 3, outcome);
  });
}

Deno.test("T29 control: without plugbox, and with every read denied, the same source map reads the file", async () => {
  await plantSecrets();
  const run = await plainRun(hostile("t29_source_map_lines.ts"), {
    config: true,
    flags: ["--deny-read"],
    args: [SECRET],
  });
  assert.equal(run.stderr.match(/line "TOP-SECRET-TEXT"/g)?.length, 3, run.stderr);
});
