// The audit log is the host's: a plugin under audit cannot read its audit
// file, forge lines in it, close it so later checks go unrecorded, or grow
// it past its bound. Controls show each attack working where plugbox's
// choice (a regular file, links refused, a byte bound) is absent.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LaunchOptions, PluginExitedError, PreflightError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile, ISOLATIONS, plainRun, pluginFolder, tempDir } from "./_hostile.ts";
import { rejected, within } from "../_helpers.ts";

const PLUGIN = hostile("audit_reach.ts");
const FD_LINKS = Object.fromEntries(
  Array.from({ length: 61 }, (_, i) => [`fd${i + 3}`, { symlink: `/proc/self/fd/${i + 3}` }]),
);

function start(isolation: string, options: Partial<LaunchOptions> = {}) {
  return startPlugin(PLUGIN, {
    contracts: [Probe],
    isolation: isolation as "auto",
    audit: true,
    ...options,
  });
}

for (const isolation of ISOLATIONS) {
  Deno.test(`audit [${isolation}]: through its descriptors the plugin cannot read, forge or close its audit`, async () => {
    await using space = await tempDir();
    await using plugin = await start(isolation, { permissions: { read: [space.path] } });
    const result = JSON.parse(await plugin.api(Probe).attempt("fds"));
    assert.deepEqual(result.leaked, [], "nothing of the audit was read");
    const log = await plugin.audit();
    assert.ok(
      log.entries.some((e) => e.kind === "env" && e.value === "AFTER_THE_ATTACK"),
      "a check after the attack is still recorded: the file was not closed",
    );
    const forged = log.entries.filter((e) => e.value?.startsWith("/forged"));
    assert.deepEqual(forged, [], "no forged line reached the audit");
    assert.equal(log.malformed, 0);
    assert.ok(log.complete);
  });

  Deno.test(`audit [${isolation}]: plugbox's folder of audit files is out of the plugin's reach`, async () => {
    await using space = await tempDir();
    await using plugin = await start(isolation, { permissions: { read: [space.path] } });
    const folder = join(plugin.plan.audit!.log, "..");
    const result = JSON.parse(await plugin.api(Probe).attempt(`folder ${folder}`));
    assert.deepEqual(result.leaked, []);
    const log = await plugin.audit();
    const listing = log.entries.find((e) => e.kind === "read" && e.value === folder);
    assert.equal(listing?.granted, false, "the plugin asked, and was denied");
  });

  Deno.test(`audit [${isolation}]: a granted folder with links into /proc/self/fd is refused`, async () => {
    await using folder = await pluginFolder(FD_LINKS);
    const error = await rejected<PreflightError>(
      start(isolation, { permissions: { read: [folder.dir] } }),
    );
    assert.ok(error instanceof PreflightError, String(error));
    // The Deno layer refuses any link leading outside the grants; the OS layer,
    // which otherwise allows them, refuses these for the audit's sake.
    assert.ok(["grant-link", "audit-link"].includes(error.reason), error.reason);
    if (isolation === "os") assert.equal(error.reason, "audit-link");
    assert.match(error.message, /holds link "[^"]*\/fd\d+"/);
  });

  Deno.test(`audit [${isolation}]: a flood of checks cannot grow the audit past its bound`, async () => {
    const maxLogBytes = 1024 * 1024;
    const plugin = await start(isolation, { audit: { maxLogBytes } });
    try {
      const error = await rejected(within(plugin.api(Probe).attempt("flood"), 60_000, "the kill"));
      assert.ok(error instanceof PluginExitedError, String(error));
      const log = await plugin.audit();
      assert.equal(log.overflow, true);
      assert.ok(log.bytes <= maxLogBytes + 64 * 1024, `read ${log.bytes} bytes`);
      assert.ok(log.entries.length <= 1024, "entries stay within maxEntries");
    } finally {
      await plugin.close();
    }
    assert.throws(() => Deno.statSync(plugin.plan.audit!.log), Deno.errors.NotFound);
  });
}

Deno.test("audit control: without the link refusal, a link to /proc/self/fd reads the audit", async () => {
  await using folder = await pluginFolder(FD_LINKS);
  await using space = await tempDir();
  const run = await plainRun(PLUGIN, {
    config: true,
    flags: [`--allow-read=${folder.dir}`],
    env: { DENO_AUDIT_PERMISSIONS: join(space.path, "audit.jsonl"), NO_COLOR: "1" },
    args: ["links", folder.dir],
  });
  const result = JSON.parse(run.stderr.trim().split("\n").at(-1)!);
  assert.ok(result.leaked.length > 0, run.stderr);
  assert.match(result.leaked.join("\n"), /"permission":"read","value":"[^"]*\/fd\d+"/);
});

Deno.test("audit control: were the audit file a pipe, node:net would forge lines in it and close it", async () => {
  await using space = await tempDir();
  const fifo = join(space.path, "audit.fifo");
  assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
  // Hold both ends, so neither Deno's open nor ours blocks.
  using writer = await Deno.open(fifo, { read: true, write: true });
  using reader = await Deno.open(fifo, { read: true });
  const run = await plainRun(PLUGIN, {
    config: true,
    env: { DENO_AUDIT_PERMISSIONS: fifo, NO_COLOR: "1" },
    args: ["fds"],
  });
  assert.match(run.stderr, /"wrapped":[1-9]/);
  await writer.write(new TextEncoder().encode("END\n"));
  let text = "";
  const buffer = new Uint8Array(1 << 16);
  while (!text.endsWith("END\n")) {
    const n = await reader.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert.match(text, /\/forged\//, "forged lines reached the pipe");
  assert.doesNotMatch(text, /AFTER_THE_ATTACK/, "the check after the attack went unrecorded");
});
