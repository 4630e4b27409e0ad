// Review 134: the scanning Workers every plugin of a host shares (review 132). Each Worker scanned
// the lines it was given in the order they ended, so a plugin's short line waited for every long
// line other plugins had ended before it on that Worker: with 8 plugins answering 16 MiB (no
// fault), another plugin's 100 KiB answer took 204 ms at the median, against 57 ms when each
// plugin had a Worker of its own (4 plugins: 92 against 22). A Worker now scans the shortest line
// ready first. The test counts lines scanned before the short one, not time.
import assert from "node:assert/strict";
import { SCAN_WORKERS, ScanOffload, scanWorkersAlive } from "../../runner/host/offload.ts";

const limits = { maxDepth: 64, maxMembers: 100_000 };
const encoder = new TextEncoder();

Deno.test("r134: a plugin's short line is scanned before long lines other plugins ended first", async () => {
  const longs = 8;
  // Lines begun and never ended, ten on each Worker (a new line goes to the least busy): those
  // on the first Worker then leave, so that the lines below all go to that one.
  const parked = Array.from({ length: 10 * SCAN_WORKERS }, () => new ScanOffload(limits));
  const offloads = Array.from({ length: longs + 1 }, () => new ScanOffload(limits));
  const order: string[] = [];
  try {
    for (const offload of parked) offload.start().append(encoder.encode("["));
    assert.equal(scanWorkersAlive(), SCAN_WORKERS);
    parked.forEach((offload, at) => at % SCAN_WORKERS === 0 && offload.close());
    const scans: Promise<unknown>[] = [];
    // Each long line of a plugin of its own, ended before the short one: 1 MiB of a JSON string.
    for (const offload of offloads.slice(0, longs)) {
      const line = offload.start();
      line.append(encoder.encode(`"${"x".repeat(1024 * 1024)}"`));
      scans.push(line.finish().then(() => order.push("long")));
    }
    const short = offloads[longs].start();
    short.append(encoder.encode(`"${"y".repeat(100 * 1024)}"`));
    scans.push(short.finish().then(() => order.push("short")));
    await Promise.all(scans);
    const before = order.indexOf("short");
    // In the order they ended, all eight long lines were scanned first.
    assert.ok(
      before < longs / 2,
      `${before} of ${longs} long lines were scanned before the short one`,
    );
  } finally {
    for (const offload of [...parked, ...offloads]) offload.close();
  }
  assert.equal(scanWorkersAlive(), 0);
});
