// Crashes leave the restart window: only the crashes of the last
// restartWindowMs count against maxRestarts, so a plugin that crashes now
// and then is restarted for ever, and one that crashes in a burst is not.
import assert from "node:assert/strict";
import { type PluginEvent, PluginHost } from "../../mod.ts";
import { Life } from "../fixtures/contracts.ts";
import { fixture, rejected, until, within } from "../_helpers.ts";

Deno.test("crashes older than the restart window no longer count against maxRestarts", async () => {
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ handleSignals: false, onEvent: (e) => events.push(e) });
  const window = 1500;
  const managed = await host.start("life", fixture("lifecycle.ts"), {
    contracts: [Life],
    maxRestarts: 2,
    restartWindowMs: window,
    backoffInitialMs: 10,
  });
  const api = managed.api(Life);
  const starts = () => events.filter((e) => e.type === "start").length;
  const crash = async () => {
    const before = starts();
    await rejected(api.crash(1));
    await within(until(() => starts() > before, 15_000, "a restart"), 20_000, "a restart");
  };
  await crash();
  await crash();
  const lastCrash = Date.now();
  // The window passes: the two crashes above leave it.
  await until(
    () => Date.now() - lastCrash > window + 100,
    window * 3,
    "the restart window to pass",
  );
  await crash();
  assert.equal(managed.state, "running", "a third crash, alone in its window, is restarted");
  assert.equal(events.filter((e) => e.type === "failed").length, 0);
});
