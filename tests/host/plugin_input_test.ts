import assert from "node:assert/strict";
import { PluginInput } from "../../runner/host/plugin_input.ts";
import { rejected, waitFor } from "../_helpers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * A PluginInput over a sink that records what reaches the pipe, and whether
 * it was closed or aborted.
 */
function recorder(waitsForGo = true) {
  const seen = { chunks: [] as string[], closed: false, aborted: false };
  const sink = new WritableStream<Uint8Array>({
    write: (chunk) => void seen.chunks.push(new TextDecoder().decode(chunk)),
    close: () => void (seen.closed = true),
    abort: () => void (seen.aborted = true),
  });
  const writer = sink.getWriter();
  return { seen, writer, input: new PluginInput(writer, waitsForGo) };
}

Deno.test("PluginInput: nothing reaches the pipe before the go; then the go line, then the rest in order", async () => {
  const { seen, input } = recorder();
  const first = input.write(bytes("one\n"));
  const second = input.write(bytes("two\n"));
  await Promise.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(seen.chunks, [], "written before the go: the sandbox's read takes it for one");
  input.go();
  input.go(); // once
  await waitFor(Promise.all([first, second]), "the writes");
  assert.deepEqual(seen.chunks, ["\n", "one\n", "two\n"]);
});

Deno.test("PluginInput: a go that never comes fails what waits, closes the pipe, and no later go opens it", async () => {
  const { seen, writer, input } = recorder();
  const waiting = input.write(bytes("handshake\n"));
  input.never();
  const error = await rejected(waiting);
  assert.match(error.message, /exited before it was let run/);
  input.go();
  await waitFor(input.close(), "close");
  await waitFor(writer.closed, "the pipe to close");
  assert.deepEqual(seen.chunks, []);
  assert.equal(seen.closed, true);
});

Deno.test("PluginInput: abort before the go settles what waits and aborts the pipe", async () => {
  const { seen, input } = recorder();
  const waiting = input.write(bytes("x\n"));
  const closing = input.close();
  await input.abort().catch(() => {});
  await rejected(waiting);
  await waitFor(closing, "close after abort");
  assert.deepEqual(seen.chunks, []);
  assert.equal(seen.aborted, true);
});

Deno.test("PluginInput: without a go to wait for, writes go straight through", async () => {
  const { seen, input } = recorder(false);
  await input.write(bytes("a\n"));
  input.go();
  input.never();
  await input.close();
  assert.deepEqual(seen.chunks, ["a\n"]);
  assert.equal(seen.closed, true);
});

Deno.test("PluginInput: a write made after the go, in the same turn, goes behind the ones that waited", async () => {
  const { seen, input } = recorder();
  const first = input.write(bytes("a\n"));
  const closed = input.close();
  input.go();
  await waitFor(Promise.all([first, closed]), "the writes and the close");
  assert.deepEqual(seen.chunks, ["\n", "a\n"]);
  assert.equal(seen.closed, true);
  const { seen: seen2, input: again } = recorder();
  const a = again.write(bytes("a\n"));
  again.go();
  const b = again.write(bytes("b\n"));
  await waitFor(Promise.all([a, b]), "the writes");
  assert.deepEqual(seen2.chunks, ["\n", "a\n", "b\n"]);
});

Deno.test("PluginInput: a write after close() fails while the go is awaited, as it would after it", async () => {
  const { seen, input } = recorder();
  const closed = input.close();
  await rejected(input.write(bytes("late\n")));
  input.go();
  await waitFor(closed, "the close");
  assert.deepEqual(seen.chunks, ["\n"]);
  assert.equal(seen.closed, true);
});
