// Review 83: attacks on the fixes of reviews 80-82.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PreflightError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { checkGrantLinks } from "../../runner/sandbox/grant_links.ts";
import type { ResolvedGrants } from "../../runner/sandbox/permissions.ts";
import { hostile, plantSecrets, pluginFolder, SECRET_DIR } from "./_hostile.ts";

/**
 * Starts r83_swaps_link.ts on `dir` (read and write, and `alsoRead` read) and asks it to move
 * `from` to `to`, then read.
 */
function swapAndRead(dir: string, spec: string, alsoRead: string[] = []): Promise<unknown> {
  return startPlugin(hostile("r83_swaps_link.ts"), {
    contracts: [Probe],
    isolation: "deno",
    permissions: { read: [dir, ...alsoRead], write: [dir] },
    unsafe: { writeAsRoot: true },
  }).then(async (plugin) => {
    await using _ = plugin;
    return await plugin.api(Probe).attempt(spec);
  }, (error) => error);
}

Deno.test('grant links [deno]: a link in a write grant whose spelling climbs with ".." out of a folder the plugin may replace by a link is refused', async () => {
  await plantSecrets();
  await using folder = await pluginFolder({});
  const depth = folder.dir.split("/").length - 1;
  // "d/…/p/" then as many ".." as it named folders: lexically back at the top, inside the folder,
  // where a copy of the secret's path exists, so the link resolves inside now.
  const inner = Array.from({ length: depth }, (_, i) => `d${i}`).join("/");
  await Deno.mkdir(join(folder.dir, inner, "p"), { recursive: true });
  await Deno.mkdir(join(folder.dir, SECRET_DIR.slice(1)), { recursive: true });
  await Deno.symlink(
    `${inner}/p/${"../".repeat(depth + 1)}${SECRET_DIR.slice(1)}`,
    join(folder.dir, "l"),
  );
  // An honest link to the grant's own top. Moved in place of "p", the ".." climb from the top.
  await Deno.symlink(folder.dir, join(folder.dir, "top"));
  const started = await swapAndRead(
    folder.dir,
    `${folder.dir}/top|${folder.dir}/${inner}/p|${folder.dir}/l/secret.txt`,
  );
  assert.ok(started instanceof PreflightError, `the plugin read: ${started}`);
  assert.equal(started.reason, "grant-link");
});

Deno.test('grant links [deno]: a link in a read grant whose spelling climbs with ".." out of a folder of a write grant is refused', async () => {
  await plantSecrets();
  await using folder = await pluginFolder({});
  await using reading = await pluginFolder({});
  const depth = folder.dir.split("/").length - 1;
  // Absolute, through the write grant: "<grant>/d…/p/" then as many ".." as it named folders
  // below the grant, back at its top, where a copy of the secret's path exists.
  const inner = Array.from({ length: depth }, (_, i) => `d${i}`).join("/");
  await Deno.mkdir(join(folder.dir, inner, "p"), { recursive: true });
  await Deno.mkdir(join(folder.dir, SECRET_DIR.slice(1)), { recursive: true });
  await Deno.symlink(
    `${folder.dir}/${inner}/p/${"../".repeat(depth + 1)}${SECRET_DIR.slice(1)}`,
    join(reading.dir, "l"),
  );
  await Deno.symlink(folder.dir, join(folder.dir, "top"));
  const started = await swapAndRead(
    folder.dir,
    `${folder.dir}/top|${folder.dir}/${inner}/p|${reading.dir}/l/secret.txt`,
    [reading.dir],
  );
  assert.ok(started instanceof PreflightError, `the plugin read: ${started}`);
  assert.equal(started.reason, "grant-link");
  assert.match(started.message, /climbs with "\.\." where the plugin may move folders/);
});

Deno.test("grant links: a link counts against the walk's budget by its target's length, so long dangling targets cannot hold the host's thread", async () => {
  await using folder = await pluginFolder({});
  // Dangling, inside the folder once made: each judged where it would lead, name by name.
  const target = "x/".repeat(2040);
  for (let i = 0; i < 2_500; i++) await Deno.symlink(target, join(folder.dir, `l${i}`));
  const grants = {
    read: [folder.dir],
    write: [folder.dir],
    net: [],
    env: {},
    sys: [],
    run: [],
    ffi: [],
    all: false,
  } as unknown as ResolvedGrants;
  const refused = (() => {
    try {
      checkGrantLinks("p", grants);
    } catch (error) {
      return error;
    }
  })();
  assert.ok(refused instanceof PreflightError, `accepted: ${refused}`);
  assert.equal(refused.reason, "grant-too-large");
});

Deno.test("r83 [os]: a host that may not read the cgroups reports an OOM kill alike in its calls' errors, exitStatus and exited", async () => {
  // The count is read by the cgroups' close (its shell) there; the first report could not read it.
  const host = fileURLToPath(new URL("./_r83_oom_host.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--deny-read=/sys/fs/cgroup", host],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const seen = JSON.parse(text);
  if (!seen.cgroup) {
    // No memory cgroup (a host not root): nothing reads an OOM count, as the README says.
    assert.notEqual(Deno.uid(), 0, "a root host makes cgroups here");
    return;
  }
  assert.deepEqual(
    [seen.call, seen.exitStatus, seen.exited],
    ["out-of-memory", "out-of-memory", "out-of-memory"],
    text,
  );
});

Deno.test("grant links: a dangling link in a read grant is judged by where it leads once its folders are made", async () => {
  // Review 83's climb check subsumes the write grant's dangling case (review 81); a read grant's
  // dangling link that leads out once someone makes the folder is still refused by this judgment.
  await using folder = await pluginFolder({
    l: { symlink: `${SECRET_DIR}/not-yet-${crypto.randomUUID()}/secret.txt` },
  });
  const grants = {
    read: [folder.dir],
    write: [],
    net: [],
    env: {},
    sys: [],
    run: [],
    ffi: [],
    all: false,
  } as unknown as ResolvedGrants;
  assert.throws(() => checkGrantLinks("p", grants), (error) => {
    return error instanceof PreflightError && error.reason === "grant-link";
  });
});
