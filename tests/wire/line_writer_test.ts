// The writer tells a sender that can hold its messages when one more whole line might pass its
// queue cap, counting what waits for the next write whether a write is in flight or not.
import assert from "node:assert/strict";
import { LineWriter } from "../../runner/wire/line_writer.ts";

/** A sink whose writes land by hand. */
function slowSink() {
  const writes: { bytes: number; land: () => void; fail: () => void }[] = [];
  const sink = {
    write: (bytes: Uint8Array) =>
      new Promise<void>((land, fail) =>
        writes.push({ bytes: bytes.length, land, fail: () => fail(new Error("broken pipe")) })
      ),
    close: () => Promise.resolve(),
  };
  return { sink, writes };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 1000 && !what(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(what());
};

Deno.test("LineWriter is backlogged once one more line might not fit: half its queue cap before a write, its line cap behind one", async () => {
  const { sink, writes } = slowSink();
  const writer = new LineWriter(sink, { maxQueuedBytes: 100, maxLineBytes: 1024 });
  writer.send("a".repeat(38)); // 40 characters with its quotes
  assert.equal(writer.backlogged, false, "40 waiting, room for a line of 50");
  writer.send("b".repeat(18)); // 60 waiting, not yet in flight
  assert.equal(writer.backlogged, true, "counted before its write begins: a drain is bounded too");
  await until(() => writes.length === 1);
  assert.equal(
    writer.backlogged,
    true,
    "in flight, nothing waiting, but a line of up to 1024 would be counted (review 77)",
  );
  writer.send("c".repeat(58));
  assert.equal(writer.backlogged, true, "60 waiting behind the write in flight");
  const flushed = writer.flushed();
  writes[0].land();
  await until(() => writes.length === 2);
  writes[1].land();
  assert.equal(await flushed, true);
  assert.equal(writer.backlogged, false);
});

Deno.test("LineWriter's line is its line cap when that is under half the queue cap; never backlogged once broken", async () => {
  const { sink, writes } = slowSink();
  const writer = new LineWriter(sink, { maxQueuedBytes: 1000, maxLineBytes: 100 });
  for (let i = 0; i < 9; i++) writer.send("a".repeat(98)); // 900 waiting: room for a line of 100
  assert.equal(writer.backlogged, false);
  writer.send(1);
  assert.equal(writer.backlogged, true);
  await until(() => writes.length === 1);
  writer.send("x");
  writes[0].fail();
  assert.equal(await writer.flushed(), false);
  for (let i = 0; i < 10; i++) writer.send("d".repeat(98));
  assert.equal(
    writer.backlogged,
    false,
    "a broken writer drops lines: a sender holding them would wait forever",
  );
});
