// The host's side channels of calls (stream items, progress) judge a line's call by its id before
// its value is parsed: a line for a call not in flight costs a scan, not a parse (review 57).
import assert from "node:assert/strict";
import { CallChannels } from "../../runner/host/call_channels.ts";
import { classifyScanned } from "../../runner/wire/envelope.ts";
import { scanJson } from "../../runner/wire/json_scan.ts";

/** A scanned notification whose params hold `members` distinct keys (costly to parse). */
function notification(method: string, id: number, members: number) {
  const value = `{${Array.from({ length: members }, (_, i) => `"k${i}":0`).join(",")}}`;
  const text = `{"jsonrpc":"2.0","method":"${method}","params":{"value":${value},"id":${id}}}`;
  const bytes = new TextEncoder().encode(text);
  const found = classifyScanned(bytes, scanJson(bytes, { maxDepth: 64, maxMembers: 1e7 }));
  assert.equal(found.kind, "notification");
  return { message: (found as { message: { method: string; params?: unknown } }).message, bytes };
}

/** How many times JSON.parse was asked for more than `over` characters while `run` ran. */
function bigParses(over: number, run: () => void): number {
  const parse = JSON.parse;
  let count = 0;
  JSON.parse = ((text: string, reviver?: Parameters<typeof parse>[1]) => {
    if (text.length > over) count++;
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    run();
  } finally {
    JSON.parse = parse;
  }
  return count;
}

Deno.test("call channels: an item or progress for a call not in flight is a fault found without parsing its value", () => {
  const faults: string[] = [];
  let streamed: unknown;
  const channels = new CallChannels({
    notify() {},
    isPending: (id) => id === 1,
    fault: (detail) => void faults.push(detail),
    violation: (detail) => assert.fail(detail),
    wasted() {},
    window: { items: 8, bytes: 64 * 1024 * 1024 },
    maxProgressPerSecond: 10,
    maxProgressBytes: 64 * 1024 * 1024,
    maxProgressLineBytesPerSecond: 2 * 1024 * 1024,
  });
  channels.attach(1, { open() {}, item: (read) => (streamed = read(), true) });
  for (const method of ["$/item", "$/progress"]) {
    const stray = notification(method, 999, 50_000);
    const parses = bigParses(10_000, () => channels.receive(stray.message, stray.bytes.length));
    assert.equal(parses, 0, `${method} for an unknown call was parsed`);
  }
  assert.deepEqual(faults, [
    "stream item for call 999, which is not in flight",
    "progress for call 999, which is not in flight",
  ]);
  // The call in flight gets its item, parsed.
  const item = notification("$/item", 1, 50_000);
  channels.receive(item.message, item.bytes.length);
  assert.equal(Object.keys(streamed as object).length, 50_000);
});
