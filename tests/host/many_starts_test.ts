// Many plugins started at once in one host: each one's start deadline
// begins when its own launch begins (a host process launches a few at a
// time), so a start deadline sized for one start holds for a crowd. Sized
// for 2 cores: started all at once, these would need far longer than one
// start deadline together; through the gate each needs a few starts' time.
import assert from "node:assert/strict";
import { type PluginEvent, PluginHost, TimeoutError } from "../../mod.ts";
import { Life } from "../fixtures/contracts.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { gatedLaunch, LAUNCHES_AT_ONCE } from "../../runner/host/launch_gate.ts";
import { fixture, testDeadline, within } from "../_helpers.ts";

const HELLO = new URL("../../plugins/hello/main.ts", import.meta.url);

Deno.test("a host starts 24 plugins per core at once, each within a short start deadline", async () => {
  testDeadline(240_000);
  const count = 24 * navigator.hardwareConcurrency;
  await using host = new PluginHost({ handleSignals: false });
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      host.start(`hello${i}`, HELLO, {
        contracts: [Greeter],
        isolation: "deno",
        restart: "never",
        // One start is some 40 ms of CPU: a crowd of `count` at once would need ~count × 20 ms.
        startTimeout: 2_000,
      })),
  );
  const failed = started.filter((s) => s.status === "rejected");
  assert.deepEqual(failed.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3), []);
  const answers = await Promise.all(
    host.list().map(({ name }) => host.get(name).api(Greeter).sayHello(name)),
  );
  assert.equal(answers.length, count);
  assert.ok(LAUNCHES_AT_ONCE >= 4);
});

Deno.test("a launch waits for a free turn, in order, and its signal can abort the wait", async () => {
  const release: (() => void)[] = [];
  const busy = Array.from(
    { length: LAUNCHES_AT_ONCE },
    () => gatedLaunch(undefined, () => new Promise<void>((resolve) => release.push(resolve))),
  );
  let ran = false;
  const abort = new AbortController();
  const aborted = gatedLaunch(abort.signal, () => Promise.resolve(ran = true));
  const next = gatedLaunch(undefined, () => Promise.resolve("next"));
  abort.abort(new Error("gave up"));
  await assert.rejects(aborted, /gave up/);
  assert.equal(ran, false, "an aborted wait never launches");
  assert.equal(release.length, LAUNCHES_AT_ONCE, "the launches in flight filled the gate");
  release.shift()!();
  assert.equal(await next, "next", "a freed turn goes to the next in line");
  for (const resolve of release) resolve();
  await Promise.all(busy);
});

Deno.test("a health ping missed while the host launches plugins is not counted; the next one is", async () => {
  testDeadline(60_000);
  const events: PluginEvent[] = [];
  let sawUnresponsive!: () => void;
  const unresponsive = new Promise<void>((resolve) => sawUnresponsive = resolve);
  await using host = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      events.push(event);
      if (event.type === "unresponsive") sawUnresponsive();
    },
  });
  const managed = await host.start("life", fixture("lifecycle.ts"), {
    contracts: [Life],
    healthIntervalMs: 100,
    healthTimeoutMs: 200,
    cancelGraceMs: 60_000,
    restart: "never",
  });
  // A launch in flight (held open), then the plugin stops answering anything.
  let endLaunch!: () => void;
  const launch = gatedLaunch(undefined, () => new Promise<void>((r) => endLaunch = r));
  const spinning = managed.api(Life, { timeout: 60_000 }).spin().catch(() => {});
  // Two pings of our own time out: by then at least one health ping has too.
  for (let i = 0; i < 2; i++) {
    await assert.rejects(managed.current!.ping(250), TimeoutError);
  }
  assert.deepEqual(events.filter((e) => e.type === "unresponsive"), [], "not while launching");
  endLaunch();
  await launch;
  await within(unresponsive, 10_000, "the unresponsive event once launches are over");
  await spinning;
});
