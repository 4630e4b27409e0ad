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
    // Made before any is sent: each 1 MiB line took the main thread about as long to make as the
    // Worker to scan, so under a neighbour's load the Worker scanned each long line as it came,
    // before the short one was sent at all (the CI saw 6 of 8).
    const longLines = Array.from(
      { length: longs },
      () => encoder.encode(`"${"x".repeat(1 << 20)}"`),
    );
    const shortLine = encoder.encode(`"${"y".repeat(100 * 1024)}"`);
    // The Worker busy first, with a line of 16 MiB of a plugin of its own, so that the lines below
    // all come while it scans and wait together.
    const busy = new ScanOffload(limits);
    offloads.push(busy);
    const first = busy.start();
    first.append(encoder.encode(`"${"z".repeat(16 << 20)}"`));
    const scans: Promise<unknown>[] = [first.finish()];
    // Each long line of a plugin of its own, ended before the short one.
    for (const [at, offload] of offloads.slice(0, longs).entries()) {
      const line = offload.start();
      line.append(longLines[at]);
      scans.push(line.finish().then(() => order.push("long")));
    }
    const short = offloads[longs].start();
    short.append(shortLine);
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
