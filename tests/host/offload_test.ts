// The scanning Worker tells the time it spent on each line with its scan: what reading a long
// capability call costs the host, charged to the plugin's share of its time (capabilityTimeShare).
import assert from "node:assert/strict";
import { ScanOffload } from "../../runner/host/offload.ts";

Deno.test("the scanning Worker tells the time it spent on a line with its scan", async () => {
  const offload = new ScanOffload({ maxDepth: 64, maxMembers: 1000 });
  try {
    const line = offload.start();
    const text = JSON.stringify({ jsonrpc: "2.0", id: 1, result: "x".repeat(4 * 1024 * 1024) });
    line.append(new TextEncoder().encode(text));
    const done = await line.finish();
    assert.equal(done.scan.verdict, "ok");
    assert.equal(done.bytes.length, text.length);
    assert.ok((done.ms ?? 0) > 0, `a scan of 4 MiB takes time: ${done.ms}`);
  } finally {
    offload.close();
  }
});
