/**
 * THREATS T28: a plugin that ignores the stream protocol's bounds. By hand,
 * because the SDK never would: items beyond its credit, items on a call
 * that is no stream, items and progress for calls that do not exist, a
 * progress flood, invalid items, capability calls with invalid arguments.
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const item = (id: number, value: unknown) =>
  writeLine(JSON.stringify({ jsonrpc: "2.0", method: "$/item", params: { id, value } }));
const progress = (id: number, value: unknown) =>
  writeLine(JSON.stringify({ jsonrpc: "2.0", method: "$/progress", params: { id, value } }));

const messages = fromHost();
const waiting = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
let nextId = 1;

for await (const message of messages) {
  const { id, method, params } = message;
  if (method === undefined && id !== undefined) {
    waiting.get(id)?.(message);
    continue;
  }
  const mode = String(params?.[0] ?? "");
  if (method === "$/initialize") {
    const served = [{ name: "flow", version: 1, methods: ["items", "texts", "plain"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "flow.items" && mode === "unsolicited") {
    for (let i = 0; i < 100_000; i++) item(id!, i);
    answer(id, null);
  } else if (method === "flow.texts" && mode === "big") {
    const chunk = "x".repeat(512 * 1024);
    for (let i = 0; i < 64; i++) item(id!, chunk);
    answer(id, null);
  } else if (method === "flow.items" && mode === "invalid") {
    item(id!, 1);
    item(id!, "not a number");
    // The host cancels; answer as cancelled once it says so.
  } else if (method === "$/cancel") {
    const cancelled = (params as unknown as { id: number }).id;
    writeLine(JSON.stringify({
      jsonrpc: "2.0",
      id: cancelled,
      error: { code: -32800, message: "Request cancelled" },
    }));
  } else if (method === "flow.plain" && mode === "item") {
    item(id!, 1);
    answer(id, "sent an item");
  } else if (method === "flow.plain" && mode === "stray") {
    for (let i = 0; i < 20; i++) item(900_000 + i, i);
    for (let i = 0; i < 20; i++) progress(900_000 + i, i);
    answer(id, "strays sent");
  } else if (method === "flow.plain" && mode === "progress") {
    for (let i = 0; i < 5_000; i++) progress(id!, i);
    answer(id, "progress sent");
  } else if (method === "flow.plain" && mode === "linked") {
    // A capability call made for this call, then silence: no answer, and no $/cancel of its own.
    const requestId = nextId++;
    writeLine(JSON.stringify({
      jsonrpc: "2.0",
      id: requestId,
      method: "flow.load",
      params: { args: ["linked"], call: id },
    }));
  } else if (method === "flow.plain" && mode === "capability") {
    // Invalid arguments, then a capability the host does not offer; each answer is reported back.
    const results: unknown[] = [];
    for (const [name, args] of [["flow.load", [42]], ["flow.nothing", []]] as const) {
      const requestId = nextId++;
      const reply = new Promise<{ result?: unknown; error?: unknown }>((resolve) =>
        waiting.set(requestId, resolve)
      );
      writeLine(
        JSON.stringify({ jsonrpc: "2.0", id: requestId, method: name, params: { args } }),
      );
      // Read on (by hand: a for-await's break would close the generator) until it is in.
      while (true) {
        const { value: next, done } = await messages.next();
        if (done) break;
        if (next.method === undefined && next.id !== undefined) waiting.get(next.id)?.(next);
        if (next.method === undefined && next.id === requestId) break;
      }
      results.push(await reply);
    }
    answer(id, results);
  } else if (id !== undefined && method) {
    answer(id, null);
  }
}
