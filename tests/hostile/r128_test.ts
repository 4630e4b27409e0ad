// Review 128, lifecycle: what the race fuzzes (tests/host/races_test.ts, r80_lifecycle_test.ts) never
// do. `ManagedPlugin.start()` is public on the handle `PluginHost.start` returns, and a second call
// fed `spawn` again: its process came up in a state whose table has no `spawned` (running,
// stopped), so it was never adopted, closed or discarded; the stop resolved with it alive, and the
// second start never settled. Each test looks in /proc for the plugin's marker (its snapshot path).
import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginHost, previewStart } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { fixture, LAYERS, rejected, testDeadline, within } from "../_helpers.ts";
import { pluginFolder, processesWith } from "./_hostile.ts";

/** The cheap fixture (bare_echo.ts) in a folder of its own: its snapshot's path marks its processes. */
async function markedPlugin(isolation: (typeof LAYERS)[number]) {
  const source = await Deno.readTextFile(fixture("bare_echo.ts"));
  const folder = await pluginFolder({
    "main.ts": `${source}\n// r128 marker ${crypto.randomUUID()}\n`,
  });
  const main = join(folder.dir, "main.ts");
  const marker = (await previewStart(main, { isolation })).snapshot.dir;
  return { folder, main, marker };
}

for (const isolation of LAYERS) {
  Deno.test(`r128 [${isolation}]: start() again on a running or stopped plugin is refused, and no second process outlives the stop`, async () => {
    testDeadline(60_000);
    const { folder, main, marker } = await markedPlugin(isolation);
    await using _folder = folder;
    const host = new PluginHost({ handleSignals: false });
    await using _host = host;
    const managed = await host.start("p", main, {
      contracts: [Bare],
      isolation,
      healthIntervalMs: 0,
      stopGraceMs: 200,
    });
    const first = managed.current!.pid;
    // Settled, and refused: before the fix it never settled (its process ran beside the first).
    const again = await within(rejected(managed.start()), 20_000, "a second start() to settle");
    assert.ok(again instanceof TypeError, String(again));
    assert.match(
      again.message,
      /^Cannot start plugin "p": it was started already \(it is running\)/,
    );
    assert.equal(managed.state, "running");
    assert.equal(managed.current?.pid, first, "the running process is still the current one");
    assert.equal(await managed.api(Bare).echo(7), 7);
    await within(host.stop("p"), 20_000, "the stop");
    assert.deepEqual(processesWith(marker), [], "no process of the plugin is left after stop()");
    // A stopped plugin is started anew with PluginHost.start, never by its old handle.
    const stopped = await within(rejected(managed.start()), 20_000, "a start() after the stop");
    assert.ok(stopped instanceof TypeError, String(stopped));
    assert.equal(managed.state, "stopped");
  });
}
