// Streamed results and progress against a real plugin process: a million
// small items, 256 MiB in 64 KiB chunks under a slow consumer (the plugin's
// memory and the host's stay bounded), early break, errors, deadlines,
// signals; progress with per-call options.
import assert from "node:assert/strict";
import { type Plugin, PluginError, provide, startPlugin, TimeoutError } from "../../mod.ts";
import { TwoWay } from "../fixtures/two_way_contract.ts";
import { fixture, rejected, testDeadline, until } from "../_helpers.ts";
import { processTree, rssBytes } from "../_memory.ts";

async function start(logs: string[] = []): Promise<Plugin> {
  return await startPlugin(fixture("two_way.ts"), {
    contracts: [TwoWay],
    capabilities: [
      provide(TwoWay, { load: (k) => k, waitForCancel: () => {}, twice: (n) => n, pad: () => "" }),
    ],
    onLog: (entry) => logs.push(entry.message),
    isolation: "deno",
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// 200,000 items: some 780 windows of 256 items granted, used and granted again (a million
// took 10 s of the suite and proved no more; `deno task bench` measures items a second).
Deno.test("streams: 200,000 small items arrive in order, typed and validated", async () => {
  await using plugin = await start();
  let count = 0;
  let sum = 0;
  const ITEMS = 200_000;
  // The whole stream is one call: its deadline covers it, so a loaded machine needs a long one.
  testDeadline(300_000);
  for await (const n of plugin.api(TwoWay).count.with({ timeout: 240_000 })(ITEMS)) {
    assert.ok(n === count);
    count++;
    sum += n;
  }
  assert.equal(count, ITEMS);
  assert.equal(sum, ((ITEMS - 1) * ITEMS) / 2);
});

Deno.test("streams: 256 MiB in 64 KiB chunks under a slow consumer keeps the plugin's and the host's memory bounded", async () => {
  await using plugin = await start();
  const pid = processTree(plugin.pid).find((p) => {
    try {
      return Deno.readTextFileSync(`/proc/${p}/comm`).trim() === "deno";
    } catch {
      return false;
    }
  })!;
  const before = rssBytes(pid);
  const peak = { plugin: 0, items: 0, bytes: 0 };
  testDeadline(300_000);
  // 256 MiB: more than the plugin could hold past its bound had it not waited for credit (it
  // makes about 100 MiB in the two slow seconds alone); a GiB took 8 s of the suite.
  const stream = plugin.api(TwoWay).chunks.with({ timeout: 240_000 })(4 * 1024, 64 * 1024);
  const sample = () => {
    peak.plugin = Math.max(peak.plugin, rssBytes(pid) - before);
    peak.items = Math.max(peak.items, stream.buffered.items);
    peak.bytes = Math.max(peak.bytes, stream.buffered.bytes);
  };
  const CHUNK = 64 * 1024;
  const CHUNKS = 4 * 1024; // 256 MiB
  let bytes = 0;
  let index = 0;
  const slowUntil = Date.now() + 2_000;
  for await (const chunk of stream) {
    bytes += chunk.length;
    // Slow for two seconds (the plugin could make ~100 MiB meanwhile), then as fast as it comes.
    if (Date.now() < slowUntil) {
      await sleep(10);
      sample();
    } else if (index % 256 === 0) sample();
    index++;
  }
  assert.equal(bytes, CHUNK * CHUNKS);
  // The window is 1 MiB and one line; a plugin or host that buffered would hold hundreds of MiB.
  assert.ok(peak.plugin < 64 * 1024 * 1024, `plugin RSS grew by ${peak.plugin} bytes`);
  assert.ok(peak.items > 0, "the host held items while the consumer was slow");
  assert.ok(peak.bytes <= 1024 * 1024 + CHUNK + 100, `the host held ${peak.bytes} bytes`);
});

Deno.test("streams: breaking out of the loop cancels the plugin's generator", async () => {
  const logs: string[] = [];
  await using plugin = await start(logs);
  let seen = 0;
  for await (const _ of plugin.api(TwoWay).forever()) {
    if (++seen === 1000) break;
  }
  await until(() => logs.some((l) => l === "forever: closed, aborted=true"), 10_000, "the close");
  assert.equal(plugin.inFlight, 0);
  assert.equal(await plugin.api(TwoWay).double(2), 4, "the plugin serves on");
});

Deno.test("streams: an error in the plugin ends the loop with it, after the items before it", async () => {
  await using plugin = await start();
  const seen: number[] = [];
  const error = await rejected<PluginError>((async () => {
    for await (const n of plugin.api(TwoWay).failAt(5)) seen.push(n);
  })());
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.ok(error instanceof PluginError && error.reportedBy === "plugin");
  assert.equal(error.remoteName, "RangeError");
  assert.match(error.message, /failed after 5/);
});

Deno.test("streams: the call's deadline and signal apply to the whole stream", async () => {
  const logs: string[] = [];
  await using plugin = await start(logs);
  let seen = 0;
  const timedOut = await rejected((async () => {
    for await (const _ of plugin.api(TwoWay).forever.with({ timeout: 300 })()) seen++;
  })());
  assert.ok(timedOut instanceof TimeoutError, String(timedOut));
  assert.ok(seen > 0);
  const stop = new AbortController();
  const aborted = await rejected((async () => {
    for await (const n of plugin.api(TwoWay).forever.with({ signal: stop.signal })()) {
      if (n === 100) stop.abort(new Error("stop here"));
    }
  })());
  assert.equal((aborted as Error).message, "stop here");
  await until(
    () => logs.filter((l) => l === "forever: closed, aborted=true").length === 2,
    10_000,
    "both generators to close",
  );
});

Deno.test("progress: reports reach onProgress, validated; with resetTimeoutOnProgress they extend the deadline up to the maximum", async () => {
  await using plugin = await start();
  const api = plugin.api(TwoWay);
  const reports: { done: number }[] = [];
  assert.equal(await api.work.with({ onProgress: (p) => reports.push(p) })(3, 5), "worked");
  assert.deepEqual(reports, [{ done: 1 }, { done: 2 }, { done: 3 }]);
  // 8 steps of 100 ms: longer than the timeout, but each report restarts it.
  assert.equal(
    await api.work.with({ timeout: 400, resetTimeoutOnProgress: true, maxTotalTimeout: 10_000 })(
      8,
      100,
    ),
    "worked",
  );
  const capped = await rejected(
    api.work.with({ timeout: 400, resetTimeoutOnProgress: true, maxTotalTimeout: 500 })(8, 100),
  );
  assert.ok(capped instanceof TimeoutError);
  assert.equal((capped as TimeoutError).timeoutMs, 500);
  const plain = await rejected(api.work.with({ timeout: 400 })(8, 100));
  assert.ok(plain instanceof TimeoutError);
  const idle = await rejected(
    api.work.with({ timeout: 150, resetTimeoutOnProgress: true })(2, 400),
  );
  assert.match((idle as Error).message, /no progress was reported/);
  assert.throws(() => api.work.with({ resetTimeoutOnProgress: true }), /needs a "timeout"/);
  assert.throws(() => api.work.with({ timeout: -1 }), /"timeout" must be/);
});
