/**
 * Review 65: an attacking plugin without the SDK. It serves `R65`
 * (r65_contract.ts) by hand; `attempt(mode)` runs one flood and answers
 * with what it sent. Every host message is read as it comes (so the host's
 * answers never back up), counted by kind.
 * @module
 */

const encoder = new TextEncoder();
const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
const heard = { answers: 0, errors: 0, cancelled: 0, calls: 0 };
let writing = Promise.resolve();

/** Writes bytes, all of them, after what was written before (async: reading goes on). */
function write(bytes: Uint8Array): Promise<void> {
  writing = writing.then(async () => {
    for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
  });
  return writing;
}
const line = (message: unknown) => write(encoder.encode(JSON.stringify(message) + "\n"));
const answer = (id: unknown, result: unknown) => line({ jsonrpc: "2.0", id, result });
const request = (id: unknown, method: string, args: unknown[]) => ({
  jsonrpc: "2.0",
  id,
  method: `r65.${method}`,
  params: { args },
});
const waiters: (() => void)[] = [];
/** Once set, what the host sends is read and dropped unparsed (the cheapest reader). */
let discard = false;
/** Answers "overloaded" (-32004) heard. */
let overloaded = 0;

/** The same bytes repeated until `bytes` long at least. */
function repeated(unit: string, bytes: number): Uint8Array {
  return encoder.encode(unit.repeat(Math.max(1, Math.ceil(bytes / unit.length))));
}

async function flood(bytes: Uint8Array, seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let rounds = 0;
  while (Date.now() < until) {
    await write(bytes);
    rounds++;
  }
  return rounds;
}

/** Holds every slot of the host's: `count` calls of `hold` it answers when the test says. */
async function holdSlots(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await line(request(`h${i}`, "hold", [i]));
}

const MODES: Record<string, (a: string, b: string) => Promise<string>> = {
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
    discard = b === "discard";
    const pair = JSON.stringify(request("q", "size", ["x"])) + "\n" +
      JSON.stringify({ jsonrpc: "2.0", method: "$/cancel", params: { id: "q" } }) + "\n";
    const count = Math.floor((1 << 16) / pair.length);
    const rounds = await flood(encoder.encode(pair.repeat(count)), Number(a));
    return `pairs ${rounds * count}, cancelled ${heard.cancelled}`;
  },
  // Valid calls of `size`, each with `a` bytes of empty objects beside its arguments, for `b` s.
  junk: async (a, b) => {
    const head =
      '{"jsonrpc":"2.0","id":"00000000","method":"r65.size","params":{"args":["x"],"j":[';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 4) / 3));
    const bytes = encoder.encode(`${head}${"{},".repeat(items)}{}]}}\n`);
    const until = Date.now() + Number(b) * 1000;
    let sent = 0;
    while (Date.now() < until) {
      const id = String(sent).padStart(8, "0");
      for (let i = 0; i < 8; i++) bytes[23 + i] = id.charCodeAt(i);
      await write(bytes);
      sent++;
      // At most 16 unanswered: what a careful caller keeps (the host answers each).
      while (sent - heard.answers - heard.errors > 16) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    }
    return `calls ${sent}, answered ${heard.answers}, errors ${heard.errors}`;
  },
  // One of each line that might do nothing for free; what each cost shows in the faults.
  each: async () => {
    const lines = [
      { jsonrpc: "2.0", method: "$/credit", params: { id: 1, items: 1, bytes: 1 } },
      { jsonrpc: "2.0", method: "$/whatever", params: {} },
      { jsonrpc: "2.0", id: "p1", method: "$/ping", params: {} },
      { jsonrpc: "2.0", id: "u1", method: "r65.nothing", params: {} },
      { jsonrpc: "2.0", id: { o: 1 }, method: "r65.size", params: { args: ["x"] } },
      { jsonrpc: "2.0", id: [1], method: "r65.size", params: { args: ["x"] } },
      { jsonrpc: "2.0", method: "$/cancel", params: { id: { o: 1 } } },
      { jsonrpc: "2.0", method: "$/item", params: { id: 999, value: 1 } },
      { jsonrpc: "2.0", id: 999, result: 1 },
      { jsonrpc: "2.0", id: null, error: { code: 1, message: "x" } },
      { jsonrpc: "2.0", id: "s1", method: "r65.size", params: { args: ["x"], extra: 1 } },
      { jsonrpc: "2.0", id: "s2", method: "r65.size", params: { args: ["x"], call: { no: 1 } } },
      { jsonrpc: "2.0", id: "s3", method: "r65.size", params: { args: ["x", "extra"] } },
      { jsonrpc: "2.0", id: "s4", method: "r65.size" },
    ];
    for (const message of lines) await line(message);
    await write(encoder.encode("\r\n\t\n \r\n"));
    return `sent ${lines.length + 3}`;
  },
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
      params: { id: attemptId, value: 0 },
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
    for (let i = 0; i < Number(a); i++) await line(request(`o${i}`, "size", ["x"]));
    while (heard.errors - errors < Number(a) - 256) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return `refused ${heard.errors - errors}: ${overloaded}`;
  },
  // Calls of `size` with `a` bytes of an array of empty objects as the argument (not a string),
  // for `b` seconds, at most 16 unanswered.
  invalid: async (a, b) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r65.size","params":{"args":[[';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 4) / 3));
    const bytes = encoder.encode(`${head}${"{},".repeat(items)}{}]]}}\n`);
    const until = Date.now() + Number(b) * 1000;
    let sent = 0;
    while (Date.now() < until) {
      const id = String(sent).padStart(8, "0");
      for (let i = 0; i < 8; i++) bytes[23 + i] = id.charCodeAt(i);
      await write(bytes);
      sent++;
      while (sent - heard.answers - heard.errors > 16) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    }
    return `calls ${sent}, answered ${heard.answers}, errors ${heard.errors}`;
  },
  // 64 slots held, then `a` calls of `size` with `b`-byte strings, each in a 64 KiB write.
  queuemem: async (a, b) => {
    await holdSlots(64);
    for (let i = 0; i < Number(a); i++) {
      const text = JSON.stringify(request(`m${i}`, "size", ["y".repeat(Number(b))])) + "\n";
      const block = encoder.encode(text + " ".repeat(Math.max(0, 65536 - text.length - 1)) + "\n");
      await write(block);
    }
    return `queued ${a}`;
  },
};

/** The id of the `attempt` call being served, for floods about it. */
let attemptId: unknown;

async function serveAttempt(id: unknown, mode: string): Promise<void> {
  attemptId = id;
  const [kind, a = "0", b = "0"] = mode.split(":");
  const run = MODES[kind];
  await answer(id, run ? await run(a, b) : "unknown mode");
}

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  if (discard) continue;
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) !== -1) {
    const text = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (!text.trim()) continue;
    const message = JSON.parse(text);
    if (message.method === "$/initialize") {
      const served = [{ name: "r65", version: 1, methods: ["attempt", "double"] }];
      void answer(message.id, { protocolVersion: 1, nonce, contracts: served });
    } else if (message.method === "r65.attempt") {
      heard.calls++;
      void serveAttempt(message.id, String(message.params?.[0] ?? ""));
    } else if (message.method === "r65.double") {
      void answer(message.id, message.params[0] * 2);
    } else if (message.method !== undefined && message.id !== undefined) {
      void answer(message.id, {});
    } else if (message.error) {
      heard.errors++;
      if (message.error.code === -32800) heard.cancelled++;
      if (message.error.code === -32004) overloaded++;
    } else if ("result" in message) heard.answers++;
    while (waiters.length) waiters.shift()!();
  }
}
