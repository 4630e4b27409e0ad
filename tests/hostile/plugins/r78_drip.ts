/**
 * Review 78: a plugin without the SDK that keeps `window` calls of the host's document unanswered
 * and reads its input at `rate` bytes a second, for `seconds`: just fast enough that each write to
 * it finishes, never fast enough to take what the host holds for it.
 * @module
 */

import { line, write } from "./_raw_wire.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
let answers = 0;
let next = 0;

/** Sends `n` calls of `read`, fresh ids. */
function ask(n: number): Promise<void> {
  let text = "";
  for (let i = 0; i < n; i++) {
    text += `{"jsonrpc":"2.0","id":"d${next++}","method":"r73.read","params":{"args":["doc"]}}\n`;
  }
  return write(encoder.encode(text));
}

let mode: { rate: number; until: number; window: number } | undefined;
let attemptId: unknown;

function onLine(text: string): void {
  const message = JSON.parse(text);
  if (message.method === "$/initialize") {
    const served = [{ name: "r73", version: 1, methods: ["attempt"] }];
    void line({
      jsonrpc: "2.0",
      id: message.id,
      result: { protocolVersion: 1, nonce, contracts: served },
    });
  } else if (message.method === "r73.attempt") {
    const [, rate, seconds, window] = String(message.params?.[0] ?? "").split(":").map(Number);
    attemptId = message.id;
    mode = { rate, until: Date.now() + seconds * 1000, window };
    void ask(window);
  } else if (message.method !== undefined && message.id !== undefined) {
    void line({ jsonrpc: "2.0", id: message.id, result: {} });
  }
}

const buffer = new Uint8Array(64 * 1024);
let held: Uint8Array[] = [];
let heldBytes = 0;
let began = performance.now();
let taken = 0;
for (;;) {
  const n = await Deno.stdin.read(buffer);
  if (n === null) break;
  const chunk = buffer.subarray(0, n);
  let start = 0;
  while (start < chunk.length) {
    const stop = chunk.indexOf(10, start);
    const end = stop === -1 ? chunk.length : stop;
    if (heldBytes + end - start <= 1024) held.push(chunk.slice(start, end));
    heldBytes += end - start;
    if (stop === -1) break;
    if (heldBytes <= 1024) {
      const all = new Uint8Array(heldBytes);
      let o = 0;
      for (const part of held) all.set(part, (o += part.length) - part.length);
      if (heldBytes > 0) onLine(decoder.decode(all));
    } else if (mode) {
      answers++;
      if (Date.now() < mode.until) void ask(1);
      else if (attemptId !== undefined) {
        void line({ jsonrpc: "2.0", id: attemptId, result: `answers ${answers}` });
        attemptId = undefined;
      }
    }
    held = [];
    heldBytes = 0;
    start = stop + 1;
  }
  if (mode) {
    // Paced: never ahead of `rate` bytes a second.
    taken += n;
    const due = began + (taken / mode.rate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  } else began = performance.now();
}
