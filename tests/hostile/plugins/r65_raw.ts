/**
 * Review 65: an attacking plugin without the SDK. It serves `R65`
 * (r65_contract.ts) by hand (_raw_async.ts); `attempt(mode)` runs one
 * flood and answers with what it sent.
 * @module
 */

import {
  encoder,
  flood,
  heard,
  line,
  nextRead,
  paced,
  repeated,
  serveRaw,
  state,
  write,
} from "./_raw_async.ts";

const request = (id: unknown, method: string, args: unknown[]) => ({
  jsonrpc: "2.0",
  id,
  method: `r65.${method}`,
  params: { args },
});

/** Holds every slot of the host's: `count` calls of `hold` it answers when the test says. */
async function holdSlots(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await line(request(`h${i}`, "hold", [i]));
}

/** Calls of `size` (ids at byte 23) with `bytes` bytes of `{}`s: `open` them, then `close`. */
function padded(open: string, close: string, bytes: number): Uint8Array {
  const head = `{"jsonrpc":"2.0","id":"00000000","method":"r65.size","params":{${open}`;
  const items = Math.max(1, Math.floor((bytes - head.length - close.length - 1) / 3));
  return encoder.encode(`${head}${"{},".repeat(items)}{}${close}\n`);
}

await serveRaw("r65", {
  // Lines of `a` spaces for `b` seconds.
  blank: async (a, b) => {
    const unit = " ".repeat(Number(a)) + "\n";
    const rounds = await flood(repeated(unit, 1 << 20), Number(b));
    return `lines ${rounds * Math.max(1, Math.ceil((1 << 20) / unit.length))}`;
  },
  // A capability in progress, then cancels of it, each `b` bytes, for `a` seconds.
  cancels: async (a, b) => {
    await line(request("h", "hold", [0]));
    const head = '{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"h","pad":"';
    const pad = "x".repeat(Math.max(0, Number(b) - head.length - 4));
    const unit = `${head}${pad}"}}\n`;
    const count = Math.max(1, Math.floor((1 << 20) / unit.length));
    const rounds = await flood(encoder.encode(unit.repeat(count)), Number(a));
    return `lines ${rounds * count}`;
  },
  // 64 slots held, then a call and its cancel, over and over, for `a` seconds.
  requeue: async (a, b) => {
    await holdSlots(64);
    state.discard = b === "discard";
    const pair = JSON.stringify(request("q", "size", ["x"])) + "\n" +
      JSON.stringify({ jsonrpc: "2.0", method: "$/cancel", params: { id: "q" } }) + "\n";
    const count = Math.floor((1 << 16) / pair.length);
    const rounds = await flood(encoder.encode(pair.repeat(count)), Number(a));
    return `pairs ${rounds * count}, cancelled ${heard.cancelled}`;
  },
  // Valid calls of `size`, each with `a` bytes of empty objects beside its arguments, for `b` s.
  junk: (a, b) => paced(padded('"args":["x"],"j":[', "]}}", Number(a)), Number(b), 23),
  // Calls of `size` with `a` bytes of an array of empty objects as the argument (not a string),
  // for `b` seconds.
  invalid: (a, b) => paced(padded('"args":[[', "]]}}", Number(a)), Number(b), 23),
  // `a` calls of `holdObject` (each stays in progress), each argument with `b` bytes of empty
  // objects beside its one member: valid, as zod drops what it does not know.
  heldjunk: async (a, b) => {
    for (let i = 0; i < Number(a); i++) {
      const head =
        `{"jsonrpc":"2.0","id":"j${i}","method":"r65.holdObject","params":{"args":[{"n":${i},"j":[`;
      const items = Math.max(1, Math.floor((Number(b) - head.length - 5) / 3));
      await write(encoder.encode(`${head}${"{},".repeat(items)}{}]}]}}\n`));
    }
    return `held ${a}`;
  },
  // Progress reports on this very call, as fast as the pipe takes them, for `a` seconds: the SDK
  // would send 50 a second; the host drops what nobody hears or what passes that rate.
  progress: async (a) => {
    const unit = JSON.stringify({
      jsonrpc: "2.0",
      method: "$/progress",
      params: { id: state.attemptId, value: 0 },
    }) + "\n";
    const rounds = await flood(repeated(unit, 1 << 16), Number(a));
    return `rounds ${rounds}`;
  },
  // One blank line of `a` spaces.
  oneblank: async (a) => {
    await write(encoder.encode(" ".repeat(Number(a)) + "\n"));
    return "sent";
  },
  // 64 slots held, then `a` calls of `size` at once: those past the host's queue are refused.
  overload: async (a) => {
    await holdSlots(64);
    const errors = heard.errors;
    const overloaded = heard.overloaded;
    for (let i = 0; i < Number(a); i++) await line(request(`o${i}`, "size", ["x"]));
    while (heard.errors - errors < Number(a) - 256) await nextRead();
    return `refused ${heard.errors - errors}: ${heard.overloaded - overloaded}`;
  },
});
