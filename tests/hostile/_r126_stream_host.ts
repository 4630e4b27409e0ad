/**
 * Review 126's host, run by tests/hostile/r126_test.ts with `--expose-gc`: it consumes a long
 * stream from tests/hostile/plugins/r126_streams.ts, a consumer slower than its plugin (it waits
 * for a timer every 2,048 items, as one that writes its items somewhere would), so items are
 * always buffered. Prints the heap after a collection once `FIRST` items were read and once `LAST`
 * were, both while the stream goes on.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { R90 } from "./plugins/r90_contract.ts";
import { hostile } from "./_hostile.ts";

const [total, first, last] = Deno.args.map(Number);
const gc = (globalThis as unknown as { gc(): void }).gc;
const heap = () => (gc(), gc(), Deno.memoryUsage().heapUsed);
await using plugin = await startPlugin(hostile("r126_streams.ts"), {
  contracts: [R90],
  isolation: "deno",
  streamWindow: { items: 65_536, bytes: 64 * 1024 * 1024 },
  // Unpaced (review 157 paces items' reading): paced, the queue was full at one measure and all
  // but empty at the other, and a window of queued items (their messages and closures, about 12
  // MB here) read as growth. What is measured is what reading leaves, the queue full at both.
  answerTimeShare: 1,
});
let read = 0;
let atFirst = 0;
let atLast = 0;
let most = 0;
const stream = plugin.api(R90).items.with({ timeout: 300_000 })(`endless:${total}`);
for await (const _item of stream) {
  read++;
  if (read % 2048 === 0) {
    most = Math.max(most, (stream as unknown as { buffered: { items: number } }).buffered.items);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (read === first) atFirst = heap();
  if (read === last) atLast = heap();
}
console.log(JSON.stringify({ read, atFirst, atLast, most }));
