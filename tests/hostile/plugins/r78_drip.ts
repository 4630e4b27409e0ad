/**
 * Review 78: a plugin without the SDK that keeps `window` calls of the host's document unanswered
 * and reads its input at `rate` bytes a second, for `seconds`: just fast enough that each write to
 * it finishes, never fast enough to take what the host holds for it.
 * @module
 */

import { handshake, line, readLines, write } from "./_raw_wire.ts";

const encoder = new TextEncoder();
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
  if (handshake(message)) return;
  if (message.method === "r73.attempt") {
    const [, rate, seconds, window] = String(message.params?.[0] ?? "").split(":").map(Number);
    attemptId = message.id;
    mode = { rate, until: Date.now() + seconds * 1000, window };
    void ask(window);
  } else if (message.method !== undefined && message.id !== undefined) {
    void line({ jsonrpc: "2.0", id: message.id, result: {} });
  }
}

/** A document's answer (a long line): one more asked for while the mode lasts, else the attempt answered. */
function onLong(): void {
  if (!mode) return;
  answers++;
  if (Date.now() < mode.until) void ask(1);
  else if (attemptId !== undefined) {
    void line({ jsonrpc: "2.0", id: attemptId, result: `answers ${answers}` });
    attemptId = undefined;
  }
}

let began = performance.now();
let taken = 0;
await readLines(onLine, onLong, async (bytes) => {
  if (!mode) return void (began = performance.now());
  // Paced: never ahead of `rate` bytes a second.
  taken += bytes;
  const wait = began + (taken / mode.rate) * 1000 - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
});
