// Review 126: what a hostile plugin can make the host keep or do through the wire, past the
// classes reviews before it attacked. Each test failed on the code it was written against
// (802de4b).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

// A stream's items wait for its consumer in a queue read from its front. The queue was reset only
// once read empty, and a consumer slower than its plugin (one that writes each item somewhere)
// never reads it empty: the plugin refills it from every grant of credit. Each item read left a
// hole at the front for the stream's life: 7 to 12 bytes an item, however small the window. 2.4
// million items, at most 64 Ki of them buffered at once, left 17 to 29 MB more heap (16 million
// read in a loop, 178 MB); a stream that lasts grows it without end. The window bounds what a
// stream holds now, its array's length too.
const STREAM_HOST = fileURLToPath(new URL("./_r126_stream_host.ts", import.meta.url));

Deno.test("r126: a long stream read slower than it is sent holds only its window", async () => {
  await using host = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", STREAM_HOST, "3000000", "500000", "2900000"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { success, stdout } = await host.output();
  assert.ok(success, "the host consumed the stream");
  const { read, atFirst, atLast, most } = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(read, 3_000_000);
  assert.ok(most > 4096, `items were always buffered (at most ${most} seen)`);
  const grown = atLast - atFirst;
  // 2.4 million items read between the two: a hole each was 17 MB; the window's lines are 4 MB.
  assert.ok(
    grown < 6_000_000,
    `the heap grew ${(grown / 1e6).toFixed(1)} MB over 2.4 million items read`,
  );
});
