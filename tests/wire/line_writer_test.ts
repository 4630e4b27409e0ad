// Answers that would pass the queue cap behind a write in flight wait beside the queue, in order,
// bounded by as many bytes again, and join the writes as they land; other lines overflow as before.
import assert from "node:assert/strict";
import { LineWriter } from "../../runner/wire/line_writer.ts";

/** A sink whose writes land by hand, each kept as text. */
function slowSink() {
  const writes: { text: string; land: () => void }[] = [];
  const decoder = new TextDecoder();
  const sink = {
    write: (bytes: Uint8Array) =>
      new Promise<void>((land) => writes.push({ text: decoder.decode(bytes), land })),
    close: () => Promise.resolve(),
  };
  return { sink, writes };
}

const until = async (what: () => boolean, label: string) => {
  for (let i = 0; i < 1000 && !what(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(what(), label);
};

/** A writer with a write in flight (the line "first"), its queue cap `maxQueuedBytes`. */
async function busyWriter(maxQueuedBytes: number) {
  const { sink, writes } = slowSink();
  const full: number[] = [];
  const writer = new LineWriter(sink, { maxQueuedBytes, onQueueFull: (n) => full.push(n) });
  writer.send("first");
  await until(() => writes.length === 1, "the first write");
  return { writer, writes, full };
}

Deno.test("LineWriter: answers past the queue cap wait beside it, in order, and go as writes land", async () => {
  const { writer, writes, full } = await busyWriter(100);
  writer.send("a".repeat(58), undefined, true); // 60 waiting
  writer.send("b".repeat(58), undefined, true); // would be 120: beside
  writer.send("c".repeat(8), undefined, true); // after one beside, beside too: answers keep order
  writer.send("note"); // not an answer: behind the write, counted (66)
  assert.deepEqual(full, [], "answers beside are not an overflow");
  const flushed = writer.flushed();
  writes[0].land();
  await until(() => writes.length === 2, "the second write");
  assert.deepEqual(writes[1].text.split("\n").map((l) => l.slice(0, 3)), ['"aa', '"no', ""]);
  let done = false;
  void flushed.then(() => done = true);
  writes[1].land();
  await until(() => writes.length === 3, "the third write");
  assert.equal(done, false, "answers sent before flushed() are in the third write");
  assert.deepEqual(writes[2].text.split("\n").map((l) => l.slice(0, 3)), ['"bb', '"cc', ""]);
  writes[2].land();
  assert.equal(await flushed, true, "flushed() waited for the answers beside");
  assert.deepEqual(full, []);
});

Deno.test("LineWriter: answers beside past as many bytes again overflow, as lines behind the write do", async () => {
  const { writer, writes, full } = await busyWriter(100);
  writer.send("a".repeat(98), undefined, true); // 100 waiting
  writer.send("b".repeat(58), undefined, true); // beside: 60
  assert.deepEqual(full, []);
  writer.send("c".repeat(58), undefined, true); // beside: 120
  assert.equal(full.length, 1, "not reading");
  assert.equal(full[0], 220);
  assert.equal(writer.writable, false);
  writes[0].land();
  assert.equal(await writer.flushed(), false, "what waited was dropped");
  assert.equal(writes.length, 1);
});

Deno.test("LineWriter: lines that are not answers overflow at the queue cap, answers beside or not", async () => {
  const { writer, full } = await busyWriter(100);
  writer.send("a".repeat(98)); // 100 waiting
  writer.send("b", undefined, true); // an answer: beside
  assert.deepEqual(full, []);
  writer.send("c"); // 103: past the cap
  assert.equal(full.length, 1);
});

Deno.test("LineWriter: one answer longer than the queue cap waits beside and is written alone", async () => {
  const { writer, writes, full } = await busyWriter(100);
  writer.send("x".repeat(500), undefined, true);
  assert.deepEqual(full, [], "one answer beside, whatever its length");
  writes[0].land();
  await until(() => writes.length === 2, "its write");
  assert.equal(writes[1].text, `"${"x".repeat(500)}"\n`);
  writes[1].land();
  assert.equal(await writer.flushed(), true);
});

Deno.test("LineWriter: answers sent in one tick with nothing in flight make a write of at most the cap, the rest beside", async () => {
  const { sink, writes } = slowSink();
  const full: number[] = [];
  const writer = new LineWriter(sink, { maxQueuedBytes: 100, onQueueFull: (n) => full.push(n) });
  for (let i = 0; i < 3; i++) writer.send(String(i).repeat(38), undefined, true); // 40 each
  await until(() => writes.length === 1, "the first write");
  assert.equal(writes[0].text.length, 82, "two answers of 40, and their newlines");
  // The third waits behind the write now, counted, and one more fits; two go beside (80), and the
  // next (120 beside) is not reading.
  for (let i = 3; i < 6; i++) writer.send(String(i).repeat(38), undefined, true);
  assert.deepEqual(full, [], "40 + 40 behind the write, 80 beside");
  writer.send("6".repeat(38), undefined, true);
  assert.equal(full.length, 1, "120 beside: not reading");
  assert.equal(full[0], 80 + 120);
});
