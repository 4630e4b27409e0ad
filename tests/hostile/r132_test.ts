// Review 132: bounds that hold per plugin but add up over the many plugins of one host process.
// A plugin's first line over 64 KiB (an answer, or one fault) made it a scanning Worker of its own,
// which lived as long as the plugin: about 9 MiB of the host and a thread each, so 64 plugins that
// each sent one such line held 585 MiB and 64 threads more (a thousand, some 9 GB), and no plugin
// tripped a cap or its fault budget. Now every plugin of the host shares a pool of at most
// SCAN_WORKERS. Each test failed on the code it was written against (a3ede66).
import assert from "node:assert/strict";
import { ProtocolError, startPlugin } from "../../mod.ts";
import { SCAN_WORKERS, scanLinesHeld } from "../../runner/host/offload.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

/** Counts the Workers this process makes and ends while `body` runs: the most alive at once. */
async function countingWorkers(
  body: (alive: () => number) => Promise<void>,
): Promise<{ most: number; after: number }> {
  const original = globalThis.Worker;
  let alive = 0;
  let most = 0;
  class Counted extends original {
    #ended = false;
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      most = Math.max(most, ++alive);
    }
    override terminate(): void {
      if (!this.#ended) alive--;
      this.#ended = true;
      super.terminate();
    }
  }
  globalThis.Worker = Counted;
  try {
    await body(() => alive);
  } finally {
    globalThis.Worker = original;
  }
  return { most, after: alive };
}

Deno.test("r132: plugins that each send a long line share the host's scanning Workers", async () => {
  const count = SCAN_WORKERS + 2;
  const { most, after } = await countingWorkers(async (alive) => {
    const plugins = await Promise.all(
      Array.from(
        { length: count },
        () => startPlugin(hostile("r132_raw.ts"), { contracts: [Probe], isolation: "deno" }),
      ),
    );
    try {
      const answers = await Promise.all(
        plugins.map((plugin) => plugin.api(Probe).attempt("long-answer:70")),
      );
      assert.deepEqual(answers.map((answer) => answer.length), answers.map(() => 70 * 1024));
      assert.ok(alive() > 0, "the long answers were scanned by a Worker");
    } finally {
      await Promise.all(plugins.map((plugin) => plugin.close()));
    }
  });
  assert.ok(most <= SCAN_WORKERS, `${most} scanning Workers for ${count} plugins`);
  assert.equal(after, 0, "the Workers end with the last plugin that sent a long line");
});

// A plugin's line left unfinished is its own no longer once the Workers are shared: the line a
// plugin killed for it held stayed in a Worker that outlives it, 16 MiB a plugin.
Deno.test("r132: a line left unfinished leaves the shared Worker with its plugin", async () => {
  await using keeper = await startPlugin(hostile("r132_raw.ts"), {
    contracts: [Probe],
    isolation: "deno",
  });
  assert.equal((await keeper.api(Probe).attempt("long-answer:70")).length, 70 * 1024);
  await using staller = await startPlugin(hostile("r95_raw.ts"), {
    contracts: [Probe],
    isolation: "deno",
    maxPartialLineMs: 1000,
  });
  const outcome = await staller.api(Probe, { timeout: 30_000 }).attempt("long-stall:1").then(
    String,
    (error) => error,
  );
  assert.ok(outcome instanceof ProtocolError, `the call ended: ${outcome}`);
  await staller.close();
  assert.equal(await scanLinesHeld(), 0, "the unfinished line's bytes are dropped");
});
