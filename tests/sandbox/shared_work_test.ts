// SharedWork (abort.ts): work several starts wait for is stopped by the last to stop waiting, and
// only by it; a start that stops waiting after the work ended stops nothing. Short writes no one
// can stop (afterWrites) are waited for at a stop, within a grace.
import assert from "node:assert/strict";
import { afterWrites, SharedWork } from "../../runner/sandbox/abort.ts";

/** Work that ends when told, or rejects at its stop; and what it saw. */
function controlled() {
  const seen = { stopped: false };
  let finish!: (value: string) => void;
  const work = new SharedWork<string>((stop) =>
    new Promise<string>((resolve, reject) => {
      finish = resolve;
      stop.addEventListener("abort", () => {
        seen.stopped = true;
        reject(stop.reason);
      });
    })
  );
  return { work, seen, finish: (value: string) => finish(value) };
}

Deno.test("SharedWork: a waiter that stops while another waits leaves at once; the work goes on for the other", async () => {
  const { work, seen, finish } = controlled();
  const first = new AbortController();
  const leaving = work.join(first.signal);
  const staying = work.join(new AbortController().signal);
  first.abort(new Error("first stopped"));
  await assert.rejects(leaving, /first stopped/);
  assert.equal(seen.stopped, false);
  finish("built");
  assert.equal(await staying, "built");
  assert.equal(work.stopped, false);
});

Deno.test("SharedWork: the last waiter to stop stops the work, and leaves once it ended", async () => {
  const { work, seen } = controlled();
  const stop = new AbortController();
  const waiting = work.join(stop.signal);
  stop.abort(new Error("stopped"));
  await assert.rejects(waiting, /stopped/);
  assert.equal(seen.stopped, true);
  assert.equal(work.stopped, true);
});

Deno.test("SharedWork: a waiter that stops after the work ended stops nothing: the result stays usable", async () => {
  const { work, finish } = controlled();
  finish("built");
  assert.equal(await work.done, "built");
  const stop = new AbortController();
  const late = work.join(stop.signal);
  stop.abort(new Error("stopped late")); // before its settle's turn
  await late.then(() => {}, () => {});
  assert.equal(work.stopped, false, "a finished build is not marked stopped (and built again)");
});

Deno.test("SharedWork: a waiter already stopped as it joins work made for it stops the work, and leaves once it ended", async () => {
  const { work, seen } = controlled();
  const stop = new AbortController();
  stop.abort(new Error("stopped before it joined"));
  await assert.rejects(work.join(stop.signal), /stopped before it joined/);
  assert.equal(seen.stopped, true, "no build goes on for no one");
  assert.equal(work.stopped, true);
});

Deno.test("SharedWork: a waiter already stopped as it joins leaves at once while another waits; the work goes on", async () => {
  const { work, seen, finish } = controlled();
  const staying = work.join(new AbortController().signal);
  const stop = new AbortController();
  stop.abort(new Error("stopped"));
  await assert.rejects(work.join(stop.signal), /stopped/);
  assert.equal(seen.stopped, false);
  finish("built");
  assert.equal(await staying, "built");
});

/** A write that ends when told, and whether it has. */
function write() {
  const state = { ended: false };
  let end!: () => void;
  const done = new Promise<string>((resolve) => end = () => resolve("written"));
  return { done, state, end: () => (state.ended = true, end()) };
}

Deno.test("afterWrites: a start stopped during a write it cannot stop rejects with the abort's reason only once the write ended", async () => {
  const { done, state, end } = write();
  const stop = new AbortController();
  const waiting = afterWrites(done, stop.signal, 60_000);
  let left = false;
  waiting.catch(() => left = true);
  stop.abort(new Error("stopped"));
  // Each step waits on an event: the write's end, told by the test after the abort's turn.
  await Promise.resolve();
  assert.equal(left, false, "it waits for the write");
  end();
  await assert.rejects(waiting, /stopped/);
  assert.ok(state.ended);
});

Deno.test("afterWrites: a stop already made when it is called still waits for the write", async () => {
  const { done, state, end } = write();
  const stop = new AbortController();
  stop.abort(new Error("stopped first"));
  const waiting = afterWrites(done, stop.signal, 60_000);
  queueMicrotask(end);
  await assert.rejects(waiting, /stopped first/);
  assert.ok(state.ended);
});

Deno.test("afterWrites: a write that never ends is left after the grace, so a stop cannot hang on it", async () => {
  const stop = new AbortController();
  const waiting = afterWrites(new Promise<never>(() => {}), stop.signal, 1);
  stop.abort(new Error("stopped"));
  await assert.rejects(waiting, /stopped/);
});

Deno.test("afterWrites: without an abort it settles as the write does", async () => {
  const stop = new AbortController();
  assert.equal(await afterWrites(Promise.resolve("written"), stop.signal), "written");
  await assert.rejects(
    afterWrites(Promise.reject(new Error("disk full")), stop.signal),
    /disk full/,
  );
});
