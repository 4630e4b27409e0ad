/**
 * Review 73: an attacking plugin without the SDK, serving `R73`
 * (r73_contract.ts) by hand. `attempt(mode)` floods the host with one
 * kind of line, prebuilt (the plugin's CPU: a write), reading the host's
 * answers as bytes and parsing only the short ones.
 * @module
 */

import { line, readLines, sleep, takeMessage, write } from "./_raw_wire.ts";

const encoder = new TextEncoder();
/** What the host answered so far. */
const heard = { answers: 0, errors: 0, overloaded: 0, cancelled: 0 };
const waiters: (() => void)[] = [];

/** A call of `method` with id `"00000000"` (renumbered in place) and `params`' JSON. */
function call(method: string, params: string): { bytes: Uint8Array; at: number } {
  const head = '{"jsonrpc":"2.0","id":"';
  const text = `${head}00000000","method":"r73.${method}","params":${params}}\n`;
  return { bytes: encoder.encode(text), at: head.length };
}

/** The lines a flood sends, by kind (`n`: a size). */
function template(kind: string, n: number): { bytes: Uint8Array; at: number } {
  switch (kind) {
    case "now": // 63 bytes: parsed whole before dispatch
      return call("now", '{"args":[]}');
    case "touch": { // up to n bytes (<= 4 KiB: parsed whole before dispatch), members zod drops
      const members: string[] = [];
      let size = 80;
      for (let i = 0; size < n; i++) size += members[members.push(`"k${i}":0`) - 1].length + 1;
      return call("touch", `{"args":[{"n":1,${members.join(",")}}]}`);
    }
    case "size": // a string of n bytes: scanned, then parsed lazily (within the share)
      return call("size", `{"args":["${"x".repeat(n)}"]}`);
    case "read": // the host's document: the answer is its
      return call("read", '{"args":["doc"]}');
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

/** Lines that do nothing but cost the host their handling, by kind. */
function noop(kind: string, i: number): string {
  switch (kind) {
    case "cancel": // a cancel of a call not in progress: one unit of waste
      return `{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"c${i}"}}`;
    case "cancelpad": // the same, 255 bytes, its id a number array's neighbour
      return `{"jsonrpc":"2.0","method":"$/cancel","params":{"id":${i},"p":[${"0,".repeat(88)}0]}}`;
    case "blank":
      return "";
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

/** Calls of `kind` for `seconds`, at most `window` unanswered. */
async function flood(kind: string, n: number, seconds: number, window: number): Promise<string> {
  const { bytes, at } = template(kind, n);
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const heardBefore = heard.answers + heard.errors;
  const batch: Uint8Array[] = [];
  while (Date.now() < until) {
    while (sent + heardBefore - heard.answers - heard.errors < window && batch.length < 64) {
      const id = String(sent++ % 1e8).padStart(8, "0");
      for (let i = 0; i < 8; i++) bytes[at + i] = id.charCodeAt(i);
      batch.push(bytes.slice());
    }
    if (batch.length > 0) {
      const all = new Uint8Array(batch.reduce((n, b) => n + b.length, 0));
      let o = 0;
      for (const b of batch) all.set(b, (o += b.length) - b.length);
      batch.length = 0;
      await write(all);
    } else await new Promise<void>((resolve) => waiters.push(resolve));
  }
  while (sent + heardBefore - heard.answers - heard.errors > 0) {
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return `sent ${sent} ${JSON.stringify(heard)}`;
}

/** `perTick` lines of `kind` every 10 ms for `seconds`. */
async function paced(kind: string, perTick: number, seconds: number): Promise<string> {
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  while (Date.now() < until) {
    const lines: string[] = [];
    for (let i = 0; i < perTick; i++) lines.push(noop(kind, sent++));
    await write(encoder.encode(lines.join("\n") + "\n"));
    await sleep(10);
  }
  return `sent ${sent}`;
}

/** `perTick` short calls every 10 ms for `seconds`, never waiting for their answers. */
async function refuse(perTick: number, seconds: number): Promise<string> {
  const { bytes, at } = template("now", 0);
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const heardBefore = heard.answers + heard.errors;
  while (Date.now() < until) {
    const all = new Uint8Array(bytes.length * perTick);
    for (let i = 0; i < perTick; i++) {
      const id = String(sent++ % 1e8).padStart(8, "0");
      for (let j = 0; j < 8; j++) bytes[at + j] = id.charCodeAt(j);
      all.set(bytes, i * bytes.length);
    }
    await write(all);
    await sleep(10);
  }
  while (sent + heardBefore - heard.answers - heard.errors > 0) {
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return `sent ${sent} ${JSON.stringify(heard)}`;
}

/**
 * Review 74: a `now` call and, in the same write, a cancel of it padded to `size` bytes in all
 * with empty objects (a line up to 4 KiB is scanned and parsed whole): the call is in progress or
 * queued when its cancel is read, so the cancel is no waste; for `seconds`, at most `window`
 * calls unanswered.
 */
async function pairs(size: number, seconds: number, window: number): Promise<string> {
  const { bytes: callBytes, at } = template("now", 0);
  const head = '{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"00000000","p":[';
  const room = size - callBytes.length - head.length - 4;
  const pad = Array.from({ length: Math.max(0, Math.floor((room + 1) / 3)) }, () => "{}");
  const cancel = encoder.encode(`${head}${pad.join(",")}]}}\n`);
  const cancelAt = head.indexOf("00000000");
  const pair = new Uint8Array(callBytes.length + cancel.length);
  pair.set(callBytes);
  pair.set(cancel, callBytes.length);
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const heardBefore = heard.answers + heard.errors;
  while (Date.now() < until) {
    const batch: Uint8Array[] = [];
    while (sent + heardBefore - heard.answers - heard.errors < window && batch.length < 64) {
      const id = String(sent++ % 1e8).padStart(8, "0");
      for (let i = 0; i < 8; i++) {
        pair[at + i] = id.charCodeAt(i);
        pair[callBytes.length + cancelAt + i] = id.charCodeAt(i);
      }
      batch.push(pair.slice());
    }
    if (batch.length > 0) {
      const all = new Uint8Array(batch.length * pair.length);
      batch.forEach((b, i) => all.set(b, i * pair.length));
      await write(all);
    } else await new Promise<void>((resolve) => waiters.push(resolve));
  }
  while (sent + heardBefore - heard.answers - heard.errors > 0) {
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return `sent ${sent} ${JSON.stringify(heard)}`;
}

/**
 * Review 74: calls of `kind` (size `n`), each with a short cancel of it in the same write, at most
 * `window` unanswered, until the host refuses one as overloaded or `seconds` pass.
 */
async function withdrawn(kind: string, n: number, seconds: number, window: number) {
  const { bytes: callBytes, at } = template(kind, n);
  const head = '{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"';
  const cancel = encoder.encode(`${head}00000000"}}\n`);
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const heardBefore = heard.answers + heard.errors;
  const refusedBefore = heard.overloaded;
  while (Date.now() < until && heard.overloaded === refusedBefore) {
    if (sent + heardBefore - heard.answers - heard.errors >= window) {
      await new Promise<void>((resolve) => waiters.push(resolve));
      continue;
    }
    const id = String(sent++ % 1e8).padStart(8, "0");
    for (let i = 0; i < 8; i++) {
      callBytes[at + i] = id.charCodeAt(i);
      cancel[head.length + i] = id.charCodeAt(i);
    }
    const both = new Uint8Array(callBytes.length + cancel.length);
    both.set(callBytes);
    both.set(cancel, callBytes.length);
    await write(both);
  }
  while (sent + heardBefore - heard.answers - heard.errors > 0) {
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
  return `sent ${sent} ${JSON.stringify(heard)}`;
}

/** Set once the plugin stops reading its input for good. */
let stopped = false;

/**
 * Review 74's fix: `n` calls of the host's document in one write, then no more reading, and no
 * answer, ever: the host's answers to them wait behind a write that never ends.
 */
function hold(n: number): Promise<string> {
  const { bytes, at } = template("read", 0);
  const all = new Uint8Array(bytes.length * n);
  for (let i = 0; i < n; i++) {
    const id = String(i).padStart(8, "0");
    for (let j = 0; j < 8; j++) bytes[at + j] = id.charCodeAt(j);
    all.set(bytes, i * bytes.length);
  }
  stopped = true;
  setInterval(() => {}, 60_000); // alive, reading nothing
  void write(all);
  return new Promise(() => {});
}

/** Runs one mode (`kind:a:b:c:d`); modes joined by "+" run one after the other. */
async function run(mode: string): Promise<string> {
  const [kind, a = "0", b = "0", c = "0", d = "0"] = mode.split(":");
  if (kind === "flood") return await flood(a, Number(b), Number(c), Number(d));
  if (kind === "paced") return await paced(a, Number(b), Number(c));
  if (kind === "refuse") return await refuse(Number(a), Number(b));
  if (kind === "withdrawn") return await withdrawn(a, Number(b), Number(c), Number(d));
  if (kind === "pairs") return await pairs(Number(a), Number(b), Number(c));
  if (kind === "hold") return await hold(Number(a));
  return "unknown mode";
}

async function attempt(id: unknown, mode: string): Promise<void> {
  const said: string[] = [];
  for (const one of mode.split("+")) said.push(await run(one));
  await line({ jsonrpc: "2.0", id, result: said.join("; ") });
}

function onLine(text: string): void {
  takeMessage(JSON.parse(text), heard, (id, mode) => void attempt(id, mode));
}

// Lines up to 1 KiB are parsed; longer ones (a document's answer) are counted as answers unread.
await readLines(onLine, () => void heard.answers++, () => {
  while (waiters.length) waiters.shift()!();
  if (stopped) return new Promise<void>(() => {});
});
