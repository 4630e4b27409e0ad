// The benchmark runs end to end (in --quick mode) and prints one well-formed
// JSON object per metric. No timing is asserted: timing belongs to
// `deno task bench`, on a quiet machine.
import assert from "node:assert/strict";
import { testDeadline } from "./_helpers.ts";

Deno.test("deno task bench --quick --json prints one row per metric with every field", async () => {
  // The whole benchmark, quick: some 15 s on a quiet machine.
  testDeadline(180_000);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../bench/run.ts", import.meta.url).pathname, "--quick", "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((line) =>
    JSON.parse(line)
  );
  assert.equal(rows.length, 29);
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), [
      "metric",
      "unit",
      "plugbox",
      "floor",
      "ratio",
      "target",
      "met",
    ]);
    assert.equal(typeof row.metric, "string");
    assert.ok(Number.isFinite(row.plugbox) && row.plugbox > 0, row.metric);
    assert.ok(Number.isFinite(row.floor) && row.floor > 0, row.metric);
    assert.ok(Math.abs(row.ratio - row.plugbox / row.floor) < 0.01, row.metric);
    assert.equal(typeof row.met, "boolean");
  }
  const names = rows.map((r) => r.metric).join("\n");
  for (
    const expected of [
      "start to first completed call",
      "round trip p50",
      "p99",
      "throughput",
      "1 MiB",
      "idle resident memory",
      "started concurrently",
      "graceful stop",
      "neighbour's throughput while another plugin floods",
      "p99 call latency during the flood",
      "OS layer cost",
      "the SDK's zod",
      "audit on",
      "Landlock layer cost",
      "through bwrap's relay",
      "Landlock's proxy port",
      "neighbour calls/s while a plugin burns",
      "host CPU loop while a plugin burns",
      "capability call",
      "stream of small items",
      "stream of 64 KiB chunks",
      "slow consumer",
    ]
  ) {
    assert.ok(names.includes(expected), expected);
  }
});
