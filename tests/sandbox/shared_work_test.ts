// SharedWork (abort.ts): work several starts wait for is stopped by the last to stop waiting, and
// only by it; a start that stops waiting after the work ended stops nothing.
import assert from "node:assert/strict";
import { SharedWork } from "../../runner/sandbox/abort.ts";

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
