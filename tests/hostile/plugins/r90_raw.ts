/**
 * Review 90: a plugin that goes on about calls the host gave up on, and
 * sends what costs the host more than it costs the plugin. By mode:
 * progress after the host's cancel of a plain call or a stream
 * (`progress-after-cancel`, `progress-after-break`), 64 KiB progress at the
 * host's rate that fails the schema (`flood:<ms>`, or `flood:<ms>:string`; at every nth tick of
 * 20 ms, `flood:<ms>::<n>`),
 * a stream answered with its items still held (`answered`), one item of
 * `[{},{},...]` within credit (`objects:<MiB>`), and a window of short
 * ones, each within the 4 KiB a host parsed at once (`short-objects`).
 * @module
 */

import { answer, fromHost, writeLine } from "./_raw.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.slice(16);
const notify = (method: string, params: unknown) =>
  writeLine(JSON.stringify({ jsonrpc: "2.0", method, params }));

const encoder = new TextEncoder();
/** A progress line's tail: a value of 64 KiB less a little, 32,000 numbers the parse builds. */
const tail = encoder.encode(`,"value":[${"0,".repeat(32_000)}0]}}\n`);
/** The same size as one string, for a measure of what reading it alone costs. */
const stringTail = encoder.encode(`,"value":"${"0,".repeat(32_000)}0"}}\n`);
/**
 * Calls flooded with progress at the host's rate (50 a second each), or at every `every`th tick,
 * until their end.
 */
const flooded = new Map<number, { until: number; tail: Uint8Array; every: number }>();
let tick = 0;
setInterval(() => {
  tick++;
  for (const [id, { until, tail, every }] of flooded) {
    if (Date.now() > until) {
      flooded.delete(id);
      answer(id, "flooded");
      continue;
    }
    if (tick % every !== 0) continue;
    const head = encoder.encode(`{"jsonrpc":"2.0","method":"$/progress","params":{"id":${id}`);
    const bytes = new Uint8Array(head.length + tail.length);
    bytes.set(head);
    bytes.set(tail, head.length);
    for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
  }
}, 20);

/** Calls held until their cancel, with what to send then. */
const held = new Map<number, () => void>();

for await (const message of fromHost()) {
  const { id, method, params } = message;
  const mode = String(params?.[0] ?? "");
  if (method === "$/initialize") {
    const served = [{ name: "r90", version: 1, methods: ["slow", "items"] }];
    answer(id, { protocolVersion: 1, nonce, contracts: served });
  } else if (method === "$/cancel") {
    const cancelled = (params as unknown as { id: number }).id;
    held.get(cancelled)?.();
    held.delete(cancelled);
    writeLine(JSON.stringify({
      jsonrpc: "2.0",
      id: cancelled,
      error: { code: -32800, message: "Request cancelled" },
    }));
  } else if (method === "r90.slow" && mode === "ping") {
    answer(id, "pong");
  } else if (method === "r90.slow" && mode === "progress-after-cancel") {
    notify("$/progress", { id, value: 0 });
    held.set(id!, () => {
      for (let i = 1; i <= 5; i++) notify("$/progress", { id, value: i });
    });
  } else if (method === "r90.slow" && mode.startsWith("flood:")) {
    const [, ms, kind, every] = mode.split(":");
    flooded.set(id!, {
      until: Date.now() + Number(ms),
      tail: kind === "string" ? stringTail : tail,
      every: Number(every || 1),
    });
  } else if (method === "r90.items" && mode.startsWith("flood:")) {
    // A stream whose consumer takes no progress, flooded with it.
    const [, ms, kind] = mode.split(":");
    flooded.set(id!, {
      until: Date.now() + Number(ms),
      tail: kind === "string" ? stringTail : tail,
      every: 1,
    });
  } else if (method === "r90.items" && mode.startsWith("objects:")) {
    // One item of `[{},{},...]` filling a line of the given MiB: within credit (a byte is left).
    const mib = Number(mode.slice(8));
    const head = encoder.encode(
      `{"jsonrpc":"2.0","method":"$/item","params":{"id":${id},"value":[`,
    );
    const body = encoder.encode(
      "{},".repeat(Math.floor((mib * 1024 * 1024 - 200) / 3)) + "{}]}}\n",
    );
    Deno.stdout.writeSync(head);
    for (let at = 0; at < body.length;) at += Deno.stdout.writeSync(body.subarray(at));
  } else if (method === "r90.items" && mode === "short-objects") {
    // The first window's 256 items in its 1 MiB, each a line of 4,000 bytes: 1,300 values.
    const value = `[${"{},".repeat(1300)}{}]`;
    for (let i = 0; i < 256; i++) {
      writeLine(`{"jsonrpc":"2.0","method":"$/item","params":{"id":${id},"value":${value}}}`);
    }
  } else if (method === "r90.items" && mode === "answered") {
    // Within the first window: the host holds them all for its consumer, and the answer.
    for (let i = 0; i < 100; i++) notify("$/item", { id, value: i });
    answer(id, null);
  } else if (method === "r90.items" && mode === "progress-after-break") {
    notify("$/item", { id, value: 0 });
    held.set(id!, () => {
      for (let i = 1; i <= 5; i++) notify("$/progress", { id, value: i });
    });
  }
}
// Its input closed: the host is done with it (the flood's interval would keep it alive).
Deno.exit(0);
