// The benchmark runs end to end (in --quick mode) and prints one well-formed
// JSON object per metric, each with its paired ratios' range and the load
// average. No timing is asserted: timing belongs to `deno task bench`, on a
// quiet machine.
import assert from "node:assert/strict";
import { testDeadline } from "./_helpers.ts";

Deno.test("deno task bench --quick --json prints one row per metric with every field", async () => {
  // The whole benchmark, quick (one round a side): some 30 s on a quiet machine.
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
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), [
      "metric",
      "unit",
      "plugbox",
      "floor",
      "ratio",
      "range",
      "target",
      "met",
      "load",
    ]);
    assert.equal(typeof row.metric, "string");
    assert.ok(Number.isFinite(row.plugbox) && row.plugbox > 0, row.metric);
    assert.ok(Number.isFinite(row.floor) && row.floor > 0, row.metric);
    // The ratio is the median of the paired ratios, inside their range.
    assert.ok(row.range[0] <= row.ratio + 1e-3 && row.ratio <= row.range[1] + 1e-3, row.metric);
    assert.equal(typeof row.met, "boolean");
    assert.ok(Number.isFinite(row.load), row.metric);
  }
  const names = rows.map((r) => r.metric).join("\n");
  for (
    const expected of [
      "warm start to first completed call",
      "first start in a host process",
      "first start of a new plugin name",
      "round trip p50",
      "p99",
      "throughput, 64 concurrent callers",
      "throughput, 256 concurrent callers",
      "host CPU per call, 64 callers",
      "string argument of 1 KiB",
      "string argument of 16 MiB",
      "idle private memory",
      "10 plugins in one host: all started concurrently",
      "10 plugins in one host: total private memory",
      "10 plugins in one host: fan-out",
      "graceful stop",
      "neighbour's throughput while another plugin floods",
      "p99 call latency during the flood",
      "while a plugin sends 2 MiB strings to a capability, its share held",
      "the share not held (capabilityTimeShare 1)",
      "that plugin's capability calls answered a second",
      "OS layer cost",
      "the SDK's zod",
      "audit on",
      "capability call",
      "stream of small items",
      "stream of 64 KiB chunks",
      "slow consumer",
      "Landlock layer cost",
      "through bwrap's relay",
      "Landlock's proxy port",
      "neighbour calls/s while a plugin burns",
      "host CPU loop while a plugin burns",
    ]
  ) {
    assert.ok(names.includes(expected), expected);
  }
});
