// Review 86: attacks on the fixes of reviews 83-85.
import assert from "node:assert/strict";
import { join } from "node:path";
import { PreflightError } from "../../mod.ts";
import { movesAndRead } from "./_moves.ts";
import { plantSecrets, pluginFolder, SECRET_DIR } from "./_hostile.ts";

Deno.test('grant links [deno]: a relative link without ".." moved in place of a write grant\'s own top leads from the folder above it', async () => {
  await plantSecrets();
  await using one = await pluginFolder({});
  // Dangling, and inside its grant once made: "<two>/plugbox-hostile/secret.txt". Moved to
  // <one>'s place, it leads from <one>'s parent, /tmp, to the secret.
  await using two = await pluginFolder({
    l: { symlink: `${SECRET_DIR.split("/").pop()}/secret.txt` },
  });
  const outcome = await movesAndRead(
    [one.dir, two.dir],
    [],
    `mv ${one.dir} ${two.dir}/old|mv ${two.dir}/l ${one.dir}|read ${one.dir}`,
  );
  // Restore <one> for its disposal.
  await Deno.remove(one.dir).catch(() => {});
  await Deno.mkdir(one.dir).catch(() => {});
  assert.ok(outcome instanceof PreflightError, `the plugin read: ${outcome}`);
  assert.equal(outcome.reason, "grant-link");
});

Deno.test("grant links [deno]: a relative link moved in place of a file the plugin may write leads from that file's folder", async () => {
  await plantSecrets();
  await using two = await pluginFolder({
    l: { symlink: `${SECRET_DIR.split("/").pop()}/secret.txt` },
  });
  // One folder to write, and one file beside the others (an output file, say).
  await using files = await pluginFolder({});
  const out = join(files.dir, "..", `${files.dir.split("/").pop()}-out.json`);
  await Deno.writeTextFile(out, "{}");
  try {
    const outcome = await movesAndRead(
      [two.dir, out],
      [],
      `mv ${two.dir}/l ${out}|read ${out}`,
    );
    assert.ok(outcome instanceof PreflightError, `the plugin read: ${outcome}`);
    assert.equal(outcome.reason, "grant-link");
  } finally {
    await Deno.remove(out);
  }
});
