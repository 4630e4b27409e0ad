import assert from "node:assert/strict";
import { type ByteSource, LineTransport } from "../../runner/wire/transport.ts";
import { scanJson } from "../../runner/wire/json_scan.ts";
import { concatBytes, keepable } from "../../runner/wire/bytes.ts";

const encoder = new TextEncoder();

function source(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      }
      controller.close();
    },
  });
}

/**
 * A byte source like `Deno.stdin`: each read copies the next chunk into the
 * reader's buffer (split where it is larger, as a pipe's would be).
 */
function byteSource(chunks: (string | Uint8Array)[]): ByteSource {
  const queue = chunks.map((chunk) => typeof chunk === "string" ? encoder.encode(chunk) : chunk);
  return {
    read(buffer) {
      const next = queue.shift();
      if (!next) return Promise.resolve(null);
      if (next.length > buffer.length) queue.unshift(next.subarray(buffer.length));
      const count = Math.min(next.length, buffer.length);
      buffer.set(next.subarray(0, count));
      return Promise.resolve(count);
    },
  };
}

type Input = "stream" | "byte source";

function input(kind: Input, chunks: (string | Uint8Array)[]) {
  return kind === "stream" ? source(chunks) : byteSource(chunks);
}

function sink(): { stream: WritableStream<Uint8Array>; writes: string[] } {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  return {
    stream: new WritableStream({ write: (chunk) => void writes.push(decoder.decode(chunk)) }),
    writes,
  };
}

async function readAll(
  chunks: (string | Uint8Array)[],
  maxLineBytes?: number,
  kind: Input = "stream",
) {
  const messages: unknown[] = [];
  const stray: string[] = [];
  const transport = new LineTransport(input(kind, chunks), sink().stream, { maxLineBytes });
  await transport.run({
    onMessage: (v) => void messages.push(v),
    onStray: (l) => void stray.push(l),
  });
  return { messages, stray };
}

Deno.test("LineTransport splits lines across and within chunks", async () => {
  const { messages } = await readAll(['{"a":1}\n{"b"', ':2}\n{"c":', "3}\n\n", '{"d":4}']);
  assert.deepEqual(messages, [{ a: 1 }, { b: 2 }, { c: 3 }, { d: 4 }]);
});

Deno.test("LineTransport decodes UTF-8 split inside a character", async () => {
  const bytes = encoder.encode('{"s":"héllo ✓"}\n');
  const { messages } = await readAll([
    bytes.subarray(0, 8),
    bytes.subarray(8, 9),
    bytes.subarray(9),
  ]);
  assert.deepEqual(messages, [{ s: "héllo ✓" }]);
});

Deno.test("LineTransport reports non-JSON lines as stray and keeps reading", async () => {
  const { messages, stray } = await readAll(["hello there\n", '{"ok":true}\r\n', "{broken\n"]);
  assert.deepEqual(messages, [{ ok: true }]);
  assert.deepEqual(stray, ["hello there", "{broken"]);
});

/**
 * Runs `readers` transports at once over bytes always there (a pipe kept full: each read completes
 * at once), each chunk costing 2 ms to handle; how many chunks were handled in all, and how many
 * when a timer set at the start fired.
 */
async function timerAmidReading(readers: number, chunks: number) {
  let handled = 0;
  let handledWhenTimerFired = -1;
  setTimeout(() => handledWhenTimerFired = handled, 0);
  await Promise.all(Array.from({ length: readers }, () => {
    const lines = Array.from({ length: chunks }, () => '{"n":1}\n');
    return new LineTransport(input("stream", lines), new WritableStream()).run({
      onMessage() {
        const until = performance.now() + 2;
        while (performance.now() < until) { /* a chunk's work */ }
        handled++;
      },
      onStray() {},
    });
  }));
  return { handled, handledWhenTimerFired };
}

Deno.test("LineTransport: reading that never waits still lets the event loop turn", async () => {
  // No timer would fire until the input ends (review 57).
  const { handled, handledWhenTimerFired } = await timerAmidReading(1, 200);
  assert.equal(handled, 200);
  assert.ok(
    handledWhenTimerFired >= 0 && handledWhenTimerFired < 100,
    `the timer fired after ${handledWhenTimerFired} of 200 chunks`,
  );
});

Deno.test("LineTransport: several readers that never wait, together, still let the event loop turn", async () => {
  // Each reader's await covered the others' work, and a read that took that long passed for a
  // wait: with two flooding plugins no timer fired until they stopped (review 62).
  const { handled, handledWhenTimerFired } = await timerAmidReading(2, 150);
  assert.equal(handled, 300);
  assert.ok(
    handledWhenTimerFired >= 0 && handledWhenTimerFired < 100,
    `the timer fired after ${handledWhenTimerFired} of 300 chunks`,
  );
});

Deno.test("LineTransport judges blank and non-JSON lines without a parse: blank ignored, the rest stray", async () => {
  const strays: string[] = [];
  const values: unknown[] = [];
  const transport = new LineTransport(
    source([' \n\t \r\n\u3000\nx\n  {"a":1}\n 7\n']),
    new WritableStream(),
  );
  await transport.run({
    onMessage: (v) => void values.push(v),
    onStray: (l) => void strays.push(l),
  });
  assert.deepEqual(strays, ["\u3000", "x"]);
  assert.deepEqual(values, [{ a: 1 }, 7]);
});

Deno.test("LineTransport rejects a line over the cap, with or without a newline", async () => {
  await assert.rejects(readAll(["x".repeat(2000) + "\n"], 1024), RangeError);
  await assert.rejects(readAll(["y".repeat(600), "y".repeat(600)], 1024), /more than 1024 bytes/);
});

Deno.test("LineTransport coalesces sends made in one tick into one write", async () => {
  const out = sink();
  const transport = new LineTransport(source([]), out.stream);
  transport.send({ n: 1 });
  transport.send({ n: 2 });
  transport.send({ n: 3 });
  assert.equal(await transport.flushed(), true);
  assert.deepEqual(out.writes, ['{"n":1}\n{"n":2}\n{"n":3}\n']);
  transport.send({ n: 4 });
  await transport.flushed();
  assert.equal(out.writes.length, 2);
  await transport.close();
});

Deno.test("LineTransport.send() throws on values that are not JSON or too long, drops lines once closed", async () => {
  const transport = new LineTransport(source([]), sink().stream, { maxLineBytes: 1024 });
  assert.throws(() => transport.send({ big: 1n }), TypeError);
  assert.throws(() => transport.send("é".repeat(600)), /line cap is 1024 bytes/);
  await transport.close();
  transport.send({ late: true });
  assert.equal(await transport.flushed(), false);
});

Deno.test("LineTransport.flushed() resolves false, not rejects, when the stream breaks", async () => {
  const broken = new WritableStream<Uint8Array>({
    write: () => Promise.reject(new Error("EPIPE")),
  });
  const transport = new LineTransport(source([]), broken);
  transport.send({ a: 1 });
  assert.equal(await transport.flushed(), false);
  assert.equal(transport.writable, false);
  await transport.close();
});

Deno.test("LineTransport waits for a returned gate before reading on", async () => {
  const order: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const transport = new LineTransport(source(['{"n":1}\n{"n":2}\n']), sink().stream);
  const done = transport.run({
    onMessage: (v) => {
      order.push(`got ${(v as { n: number }).n}`);
      if ((v as { n: number }).n === 1) return gate;
    },
    onStray() {},
  });
  await Promise.resolve();
  order.push("gate open");
  open();
  await done;
  assert.deepEqual(order, ["got 1", "gate open", "got 2"]);
});

Deno.test("LineTransport waits for each write before the next: the pipe's backpressure reaches the sender", async () => {
  const started: string[] = [];
  const finish: (() => void)[] = [];
  const decoder = new TextDecoder();
  const slow = new WritableStream<Uint8Array>({
    write: (chunk) =>
      new Promise<void>((resolve) => {
        started.push(decoder.decode(chunk));
        finish.push(resolve);
      }),
  }, { highWaterMark: 1 });
  const transport = new LineTransport(source([]), slow);
  transport.send({ n: 1 });
  const first = transport.flushed();
  await new Promise((r) => setTimeout(r, 0));
  transport.send({ n: 2 });
  transport.send({ n: 3 });
  const rest = transport.flushed();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, ['{"n":1}\n'], "nothing more is written while the pipe is full");
  finish.shift()!();
  assert.equal(await first, true);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(
    started,
    ['{"n":1}\n', '{"n":2}\n{"n":3}\n'],
    "what queued meanwhile goes in one write",
  );
  finish.shift()!();
  assert.equal(await rest, true);
  await transport.close();
});

/** Reads in scan mode: each line's scan verdict and text, in order; long lines through `offload`. */
async function scanAll(
  chunks: (string | Uint8Array)[],
  inlineMaxBytes: number,
  kind: Input = "stream",
) {
  const seen: (string | (() => string))[] = [];
  const offloaded: number[] = [];
  const transport = new LineTransport(input(kind, chunks), sink().stream, {
    scan: {
      limits: { maxDepth: 8, maxMembers: 100 },
      inlineMaxBytes,
      offload: () => {
        const parts: Uint8Array[] = [];
        return {
          append: (part) => void parts.push(part),
          finish: async () => {
            let bytes = concatBytes(parts);
            if (bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
            offloaded.push(bytes.length);
            await new Promise((resolve) => setTimeout(resolve, 1)); // finishes after the lines behind it
            return { bytes, scan: scanJson(bytes, { maxDepth: 8, maxMembers: 100 }) };
          },
        };
      },
    },
  });
  const decoder = new TextDecoder();
  await transport.run({
    // The bytes are read after the run: a line handed on must keep its bytes.
    onScanned: (bytes, scan) => void seen.push(() => `${scan.verdict} ${decoder.decode(bytes)}`),
    // Lines too short to break a cap are parsed at once.
    onMessage: (value) => void seen.push(`ok ${JSON.stringify(value)}`),
    onStray: (line) => void seen.push(`stray ${line}`),
  });
  return { seen: seen.map((entry) => typeof entry === "string" ? entry : entry()), offloaded };
}

Deno.test("LineTransport in scan mode: long lines are scanned by offload, short ones inline, in order", async () => {
  const long = `{"id":1,"result":"${"x".repeat(100)}"}`;
  const { seen, offloaded } = await scanAll(
    ['{"a":1}\n', long.slice(0, 50), long.slice(50) + "\n[[[[[[[[[[]]]]]]]]]]\nnot json\n", long],
    64,
  );
  assert.deepEqual(seen, [
    'ok {"a":1}',
    `ok ${long}`,
    "too-deep [[[[[[[[[[]]]]]]]]]]",
    "stray not json",
    `ok ${long}`,
  ]);
  assert.deepEqual(offloaded, [long.length, long.length], "both long lines, and only they");
});

Deno.test("LineTransport in scan mode reads random chunkings of the same lines the same way", async () => {
  const lines = Array.from(
    { length: 60 },
    (_, i) =>
      i % 3 === 0
        ? `{"n":${i},"pad":"${"p".repeat(i * 3)}"}`
        : i % 3 === 1
        ? "[".repeat(i % 12)
        : "{}",
  );
  const text = lines.join("\r\n") + "\n";
  const expected = (await scanAll([text], 1 << 20)).seen;
  let seed = 1;
  for (let round = 0; round < 20; round++) {
    const chunks: string[] = [];
    for (let at = 0; at < text.length;) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const size = 1 + (seed % 90);
      chunks.push(text.slice(at, at + size));
      at += size;
    }
    assert.deepEqual((await scanAll(chunks, 40)).seen, expected, `round ${round}`);
  }
});

/** `text`'s bytes cut into random chunks of 1 to `max` (the same cuts for the same seed). */
function chunked(text: string, seed: number, max: number): Uint8Array[] {
  const bytes = encoder.encode(text);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const size = 1 + (seed % max);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

Deno.test("LineTransport reads a byte source (the plugin's stdin) as it reads a stream", async () => {
  // Lines that end inside a read, span several, and hold characters of 2 to 4 bytes.
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ n: i, s: "é✓😀".repeat(i) }));
  const text = lines.join("\n") + "\n";
  const expected = lines.map((line) => JSON.parse(line));
  for (let round = 0; round < 10; round++) {
    const chunks = chunked(text, round + 1, 70);
    assert.deepEqual((await readAll(chunks)).messages, expected, `stream, round ${round}`);
    const read = await readAll(chunks, undefined, "byte source");
    assert.deepEqual(read.messages, expected, `byte source, round ${round}`);
  }
  // A last line without a newline, longer than a read.
  const long = JSON.stringify({ pad: "x".repeat(100_000) });
  assert.deepEqual((await readAll(['{"a":1}\n', long], undefined, "byte source")).messages, [
    { a: 1 },
    JSON.parse(long),
  ]);
});

Deno.test("LineTransport in scan mode reads a byte source as it reads a stream", async () => {
  const lines = Array.from(
    { length: 60 },
    (_, i) => i % 2 === 0 ? `{"n":${i},"pad":"${"p".repeat(i * 5)}"}` : "[".repeat(i % 12),
  );
  const text = lines.join("\n") + "\n";
  const expected = (await scanAll([text], 1 << 20)).seen;
  for (let round = 0; round < 10; round++) {
    const chunks = chunked(text, round + 7, 90);
    assert.deepEqual((await scanAll(chunks, 40, "byte source")).seen, expected, `round ${round}`);
  }
});

Deno.test("LineTransport keeps copies of small views of large buffers, not the buffers", async () => {
  // A child's stdout hands each read over as a view into a 64 KiB buffer of its own. Here each
  // byte of one line comes so, and each buffer is scribbled over once the next read is asked
  // for: a transport that kept the views would deliver the scribbles (and hold 64 KiB a byte).
  const line = JSON.stringify({ text: "abcdefghij".repeat(30) }) + "\n";
  const bytes = encoder.encode(line);
  let at = 0;
  let last: Uint8Array | undefined;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      last?.fill(0x78);
      if (at === bytes.length) return controller.close();
      last = new Uint8Array(64 * 1024);
      last[100] = bytes[at++];
      controller.enqueue(last.subarray(100, 101));
    },
  }, { highWaterMark: 0 });
  const messages: unknown[] = [];
  await new LineTransport(stream, sink().stream).run({
    onMessage: (value) => void messages.push(value),
    onStray: (stray) => assert.fail(`stray: ${stray.slice(0, 80)}`),
  });
  assert.deepEqual(messages, [JSON.parse(line)]);
});

Deno.test("LineTransport: a byte source that reads nothing does not starve the event loop", async () => {
  let ticked = false;
  setTimeout(() => ticked = true, 5);
  let empty = 0;
  let sent = false;
  const source: ByteSource = {
    read(buffer) {
      if (!ticked) {
        // A transport that asked again at once would never let the timer run: fail, not hang.
        if (++empty > 10_000) return Promise.reject(new Error("the event loop was starved"));
        return Promise.resolve(0); // nothing, until a timer has run
      }
      if (sent) return Promise.resolve(null);
      sent = true;
      buffer.set(encoder.encode('{"a":1}\n'));
      return Promise.resolve(8);
    },
  };
  const messages: unknown[] = [];
  await new LineTransport(source, sink().stream).run({
    onMessage: (value) => void messages.push(value),
    onStray() {},
  });
  assert.deepEqual(messages, [{ a: 1 }]);
});

Deno.test("LineTransport: a line dripped a byte per read costs its bytes, not an object or a message per byte", async () => {
  // Review 33. Past the inline limit, the offload gets the line in batches, not a read at a time.
  const long = JSON.stringify({ pad: "x".repeat(200_000) });
  const chunks = [...encoder.encode(long + "\n")].map((byte) => new Uint8Array([byte]));
  let appends = 0;
  const transport = new LineTransport(source(chunks), sink().stream, {
    scan: {
      limits: { maxDepth: 8, maxMembers: 100 },
      inlineMaxBytes: 64 * 1024,
      offload: () => {
        const parts: Uint8Array[] = [];
        return {
          append: (part) => void (appends++, parts.push(part)),
          finish: () => {
            const bytes = concatBytes(parts);
            return Promise.resolve({
              bytes,
              scan: scanJson(bytes, { maxDepth: 8, maxMembers: 100 }),
            });
          },
        };
      },
    },
  });
  const seen: number[] = [];
  await transport.run({ onScanned: (bytes) => void seen.push(bytes.length), onStray() {} });
  assert.deepEqual(seen, [long.length]);
  assert.ok(appends <= 5, `${appends} appends for a ${long.length}-byte line`);

  // Below it, in the host's heap: measured in a child that can collect garbage before reading it.
  const transportModule = new URL("../../runner/wire/transport.ts", import.meta.url).href;
  const script = `import { LineTransport } from "${transportModule}";
const bytes = 60000;
let sent = 0;
let release;
const held = new Promise((resolve) => release = resolve);
const source = new ReadableStream({
  pull(controller) {
    if (sent === bytes) return held.then(() => controller.close());
    sent++;
    controller.enqueue(new Uint8Array([0x20]));
  },
}, { highWaterMark: 0 });
const transport = new LineTransport(source, new WritableStream());
gc();
const before = Deno.memoryUsage().heapUsed;
const running = transport.run({ onStray() {} });
while (sent < bytes) await new Promise((resolve) => setTimeout(resolve, 1));
gc();
console.log(Deno.memoryUsage().heapUsed - before);
release();
await running;`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const grown = Number(new TextDecoder().decode(out.stdout).trim());
  assert.ok(
    grown < 2 * 1024 * 1024,
    `60,000 dripped bytes of one line hold ${grown} bytes of heap`,
  );
});

Deno.test("keepable() copies a view that is a small part of its buffer, and keeps a large one", () => {
  const read = new Uint8Array(64 * 1024);
  const dripped = keepable(read.subarray(10, 11));
  assert.equal(dripped.buffer.byteLength, 1, "a dripped byte keeps its byte, not 64 KiB");
  const most = read.subarray(0, 60 * 1024);
  assert.equal(keepable(most), most, "most of a buffer is kept as it is");
});

// What reading and scanning a line cost the host is told with it (`costMs`): a request's share of
// the host's time is charged with it (PeerOptions.inboundTime).
Deno.test("scan mode tells what a line's reading and scan cost: a long line's offload's own time included", async () => {
  const limits = { maxDepth: 8, maxMembers: 100 };
  const lines = [
    JSON.stringify({ short: "x".repeat(100) }), // scanned inline
    JSON.stringify({ inline: "x".repeat(32 * 1024) }), // scanned on the main thread, timed
    JSON.stringify({ long: "x".repeat(200_000) }), // whole in its chunk, to the offload
    JSON.stringify({ parts: "x".repeat(200_000) }), // in parts: streamed to the offload
  ];
  const [whole, parts] = [lines.slice(0, 3).map((l) => l + "\n"), lines[3] + "\n"];
  const chunks = [
    ...whole,
    parts.slice(0, 90_000),
    parts.slice(90_000, 180_000),
    parts.slice(180_000),
  ];
  const costs: number[] = [];
  const transport = new LineTransport(source(chunks), sink().stream, {
    scan: {
      limits,
      offload: () => {
        const parts: Uint8Array[] = [];
        return {
          append: (part) => void parts.push(part),
          finish: () => {
            const bytes = concatBytes(parts);
            return Promise.resolve({ bytes, scan: scanJson(bytes, limits), ms: 7 });
          },
        };
      },
    },
  });
  await transport.run({
    onScanned: (_bytes, _scan, _text, costMs) => void costs.push(costMs),
    onStray: () => assert.fail("no stray line"),
  });
  assert.equal(costs.length, 4);
  assert.ok(costs[0] >= 0);
  assert.ok(costs[1] > 0, `an inline scan of 32 KiB is timed: ${costs[1]}`);
  assert.ok(costs[2] >= 7, `an offloaded line's cost holds its offload's: ${costs[2]}`);
  assert.ok(costs[3] > 7, `a streamed line's holds its parts' handling too: ${costs[3]}`);
});
