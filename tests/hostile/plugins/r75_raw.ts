/**
 * Review 75: an attacking plugin without the SDK, serving `R73`
 * (r73_contract.ts) by hand, that stops reading its input: the host's
 * answers wait in its pipe, and the calls that hold their slots until
 * those answers are written make room in the host's queue.
 * @module
 */

import { line, readLines, sleep, takeMessage, write } from "./_raw_wire.ts";

const encoder = new TextEncoder();
/** What the host answered so far. */
const heard = { answers: 0, errors: 0, overloaded: 0, cancelled: 0, answeredBytes: 0 };
const waiters: (() => void)[] = [];
/** While set, the input is not read: the host's answers wait in the pipe and behind it. */
let stall: { promise: Promise<void>; resume: () => void } | undefined;

let nextId = 0;
/** A call of `method` with `params`' JSON, numbered. */
function call(method: string, params: string): Uint8Array {
  const id = String(nextId++).padStart(8, "0");
  return encoder.encode(
    `{"jsonrpc":"2.0","id":"${id}","method":"r73.${method}","params":${params}}\n`,
  );
}

/** Calls `size` of a string of `bytes`, its line's length. */
const sizeCall = (bytes: number) => call("size", `{"args":["${"x".repeat(bytes - 80)}"]}`);

/**
 * Stops reading; sends `reads` calls of `read` (their answers, the host's document, fill the
 * pipe), then `big` calls of `size` of `bigBytes` each and `small` of `smallBytes`, `gap` ms
 * apart (within the share); holds for `holdMs`, then reads again and waits for every answer.
 */
async function hoard(
  reads: number,
  big: number,
  bigBytes: number,
  small: number,
  smallBytes: number,
  gap: number,
  holdMs: number,
): Promise<string> {
  let resume!: () => void;
  stall = { promise: new Promise<void>((resolve) => resume = resolve), resume: () => resume() };
  const before = heard.answers + heard.errors;
  for (let i = 0; i < reads; i++) await write(call("read", '{"args":["doc"]}'));
  const big0 = nextId;
  for (let i = 0; i < big; i++) {
    await write(sizeCall(bigBytes));
    await sleep(gap);
  }
  for (let i = 0; i < small; i++) {
    await write(sizeCall(smallBytes));
    if (i % 16 === 15) await sleep(gap);
  }
  const sent = nextId - big0 + reads;
  await sleep(holdMs);
  stall.resume();
  stall = undefined;
  while (heard.answers + heard.errors - before < sent) {
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return `sent ${sent} ${JSON.stringify(heard)}`;
}

async function run(mode: string): Promise<string> {
  const [kind, ...rest] = mode.split(":");
  const n = rest.map(Number);
  if (kind === "hoard") return await hoard(n[0], n[1], n[2], n[3], n[4], n[5], n[6]);
  return "unknown mode";
}

async function attempt(id: unknown, mode: string): Promise<void> {
  await line({ jsonrpc: "2.0", id, result: await run(mode) });
}

function onLine(text: string): void {
  const message = JSON.parse(text);
  takeMessage(message, heard, (id, mode) => void attempt(id, mode));
  if (!message.method && !message.error && typeof message.result === "number") {
    heard.answeredBytes += message.result + 80;
  }
}

// Lines up to 1 KiB are parsed; longer ones (a document's answer) are counted as answers unread.
await readLines(onLine, () => void heard.answers++, async () => {
  while (waiters.length) waiters.shift()!();
  if (stall) await stall.promise;
});
