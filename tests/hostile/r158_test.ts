// Review 158: a hostile review of reviews 156 and 157 and of runner/thrown_text.ts. What the wire
// and the SDK make text of a thrown value: `textOf` and `messageOf` cannot throw, but what asked
// about the value before them could. `error instanceof ResponseError` throws for a revoked Proxy
// (its prototype cannot be read), in the peer's answer and in the SDK's encoding of what an
// implementation threw; the SDK's encoding read `message` and made text of it by hand. A plugin
// whose implementation threw such a value, or an Error whose message getter throws or whose
// message has no text, ended its own process ("stopped reading input"): every call it had in
// flight failed with PluginExitedError, the call itself included. Each test failed without its fix.
import assert from "node:assert/strict";
import { z } from "zod";
import { join } from "node:path";
import { defineContract, stream } from "../../contract.ts";
import { PluginError, PreflightError, previewStart, startPlugin } from "../../mod.ts";
import {
  SNAPSHOT_BUDGET_BYTES,
  snapshotsWaiting,
  takeSnapshotBudget,
} from "../../runner/sandbox/snapshot_budget.ts";
import { Peer } from "../../runner/wire/mod.ts";
import { ErrorCode } from "../../runner/wire/protocol.ts";
import { freshCache, rejected, testDeadline, uncaught, until, within } from "../_helpers.ts";
import { blockedWriter, hostile, pluginFolder, stillBlocked, tempDir } from "./_hostile.ts";

const Throws = defineContract({
  name: "r158",
  version: 1,
  methods: { fail: z.function({ input: [z.string()], output: z.string() }) },
});

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

Deno.test("r158: the peer answers a request whose handler threw a revoked Proxy", async () => {
  using seen = uncaught();
  const peers: Peer[] = [];
  const wire = (to: number) => (message: unknown) => {
    const line = JSON.stringify(message);
    queueMicrotask(() => peers[to].receive(JSON.parse(line)));
  };
  peers.push(new Peer(wire(1)));
  peers.push(
    new Peer(wire(0), {
      onRequest: (method) => {
        if (method === "sync") throw revoked();
        return Promise.reject(revoked());
      },
    }),
  );
  for (const method of ["sync", "async"]) {
    const error = await rejected(within(peers[0].request(method, []), 5000, method));
    assert.match((error as Error).message, /a value with no text/);
  }
  assert.deepEqual(seen.seen, []);
});

Deno.test("r158: an SDK plugin whose implementation throws what cannot be read answers the call as its failure, and keeps running", async () => {
  testDeadline(60_000);
  await using plugin = await startPlugin(hostile("r158_throws.ts"), {
    contracts: [Throws],
    isolation: "deno",
    stopGraceMs: 200,
  });
  const api = plugin.api(Throws, { timeout: 15_000 });
  const expected: Record<string, RegExp> = {
    "revoked": /failed: Error: a value with no text$/,
    "symbol": /failed: symbol: Symbol\(thrown\)$/,
    "to-primitive": /failed: object: a value with no text$/,
    "message-getter": /failed: Error: a value with no text$/,
    "message-object": /failed: Error: a value with no text$/,
    "message-symbol": /failed: Error: Symbol\(message\)$/,
  };
  for (const [kind, message] of Object.entries(expected)) {
    const error = await rejected(api.fail(kind));
    assert.ok(error instanceof PluginError, `${kind}: ${error}`);
    // The implementation's failure, as any other it throws: not the SDK's own (-32603).
    assert.equal(error.code, ErrorCode.ApplicationError, kind);
    assert.match(error.message, message, kind);
  }
  assert.match((await rejected<Error>(api.fail("plain"))).message, /failed: Error: plain$/);
  assert.equal(plugin.exitStatus, undefined, "the plugin still runs");
});

// Review 156 opened the snapshot's files folder by folder from the plugin's folder, none followed
// if it became a link; but the first step, the plugin's folder itself, was opened in a catch-all:
// swapped for a link after the walk (by whoever holds the folder above it: a checkout of several
// plugins), its open failed (ENOTDIR), and the chain gave way to the read by path it replaced, which
// followed the link and opened what lay beyond it, outside: a FIFO's writer released (a device's
// open alone may set it going). Now only a host that may not open through /proc reads by path; a
// folder that became a link refuses the start, naming it, and nothing beyond it is opened.
Deno.test("r158: the plugin's folder swapped for a link after the walk leads the snapshot's read to nothing beyond it", async () => {
  testDeadline(60_000);
  await using base = await tempDir();
  const checkout = join(base.path, "checkout");
  const folder = join(checkout, "plugin");
  const outside = join(base.path, "outside");
  await Deno.mkdir(folder, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(folder, "main.ts"), "export {};\n");
  const writer = blockedWriter(join(outside, "main.ts"));
  await using cache = await freshCache();
  // Other walks hold the whole budget: this one lists the folder, then waits to read it.
  const giveBack = await takeSnapshotBudget(SNAPSHOT_BUDGET_BYTES);
  let planned: Promise<unknown>;
  try {
    planned = previewStart(join(folder, "main.ts"), { cacheDir: cache.path, isolation: "deno" });
    planned.catch(() => {});
    await until(() => snapshotsWaiting() === 1, 20_000, "the walk to wait for its bytes");
    await Deno.rename(folder, join(checkout, "was-plugin"));
    await Deno.symlink(outside, folder);
  } finally {
    giveBack();
  }
  const error = await rejected<PreflightError>(planned);
  assert.ok(error instanceof PreflightError, String(error));
  assert.ok(error.message.includes(folder), error.message);
  assert.match(error.message, /became a link or another kind of file: (ELOOP|ENOTDIR)/);
  assert.equal(await stillBlocked(join(outside, "main.ts"), writer), "released\n");
});

const STREAM_SOURCE = await Deno.readTextFile(hostile("r157_stream.ts"));

/** r157_stream.ts streaming `value` (JSON) as every item, while it holds credit, in a folder. */
function streaming(value: string) {
  const text = STREAM_SOURCE.replace(
    /const keys = .*\n/,
    `const keys = ${JSON.stringify(value)};\n`,
  );
  return pluginFolder({ "main.ts": `${text}// ${crypto.randomUUID()}\n` });
}

/**
 * Starts the plugin in `folder` with `Flow`, reads its stream as fast as it can, and says once the
 * host paced its reading (answersPacedSince), with the items read until then.
 */
async function pacedAfter(folder: string, item: z.ZodType): Promise<number> {
  const Flow = defineContract({
    name: "flow",
    version: 1,
    methods: { items: z.function({ input: [], output: stream(item) }) },
  });
  await using plugin = await startPlugin(join(folder, "main.ts"), {
    contracts: [Flow],
    isolation: "deno",
    stopGraceMs: 200,
  });
  const began = Date.now();
  let read = 0;
  for await (const _ of plugin.api(Flow, { timeout: 120_000 }).items()) {
    read++;
    if (plugin.answersPacedSince(began)) break;
  }
  return read;
}

// Review 157 timed an item's read where its consumer takes it, and owed it to the plugin's answer
// share, from 1 KiB on: as answers, whose lines under 1 KiB cost little and come once a call the
// host made. Items come as often as the plugin sends them. Items of 1,000 bytes, an array of 105
// objects each matching the last of a union of eight shapes (75 us each to check here), read as
// fast as they came, cut 5 honest plugins' echo calls beside them to 0.04 to 0.08 of a control's
// (4 s runs interleaved with a control and with items of 1,100 bytes, which were paced and left
// 0.60 to 0.87); the host never paced their reading. Now every item's read is timed, and each
// item's line owes its scan and what no clock sees: 0.40 to 0.91.
Deno.test("r158: a plugin streaming items under 1 KiB costly to check has their reading paced", async () => {
  testDeadline(120_000);
  const value = `[${Array.from({ length: 105 }, () => '{"a7":0}').join(",")}]`;
  await using folder = await streaming(value);
  const shapes = Array.from({ length: 8 }, (_, i) => z.object({ [`a${i}`]: z.literal(0) }));
  const item = z.array(z.union(shapes as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]));
  const read = await within(pacedAfter(folder.dir, item), 100_000, "the reading to be paced");
  assert.ok(read > 0);
});

// What an item's line costs before its consumer reads it (the transport's scan of a line over 128
// bytes, its classifying, the channel) went to no share: a stream of strings of 1,000 bytes, whose
// parse and check are next to nothing and whose scan is most of their cost, was never paced.
Deno.test("r158: a plugin streaming cheap items, their cost in their lines' scan, has their reading paced", async () => {
  testDeadline(120_000);
  await using folder = await streaming(JSON.stringify("x".repeat(1000)));
  const read = await within(pacedAfter(folder.dir, z.string()), 100_000, "the reading to be paced");
  assert.ok(read > 0);
});
