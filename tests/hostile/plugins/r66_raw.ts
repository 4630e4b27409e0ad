/**
 * Review 66: an attacking plugin without the SDK. It serves `R66`
 * (r66_contract.ts) by hand; `attempt(mode)` runs one flood and answers
 * with what it sent. What the host sends is read as it comes; with
 * `discard` set it is dropped unparsed (the cheapest reader).
 * @module
 */

const encoder = new TextEncoder();
const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))!.split("=")[1];
const heard = { answers: 0, errors: 0, overloaded: 0, bytes: 0 };
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
const waiters: (() => void)[] = [];
let discard = false;
/** Once set, nothing more is read: what the host writes waits in its queue. */
let deaf = false;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A line `{head}"xxxx…"{tail}` of `bytes` bytes (a string pad: the scan's cheapest for us). */
function padded(head: string, tail: string, bytes: number): Uint8Array {
  const pad = Math.max(0, bytes - head.length - tail.length - 3);
  return encoder.encode(`${head}"${"x".repeat(pad)}"${tail}\n`);
}

/** Lines that are one fault each, whatever their length (up to the host's line cap). */
const LONG_FAULTS: Record<string, [string, string]> = {
  notify: ['{"jsonrpc":"2.0","method":"r66.nothing","params":', "}"],
  cancel: ['{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"nope","pad":', "}}"],
  item: ['{"jsonrpc":"2.0","method":"$/item","params":{"id":99999,"value":', "}}"],
  progress: ['{"jsonrpc":"2.0","method":"$/progress","params":{"id":99999,"value":', "}}"],
  response: ['{"jsonrpc":"2.0","id":99999,"result":', "}"],
  invalid: ['{"jsonrpc":"1.0","id":5,"result":', "}"],
  nomethod: ['{"jsonrpc":"2.0","id":"u","method":"r66.nothing","params":', "}"],
  stray: ["zz", ""],
};

const MODES: Record<string, (a: string, b: string, c: string) => Promise<string>> = {
  // `b` seconds of lines of kind `a`, each `c` bytes, at 9 a second (within a budget of 100 in 10 s).
  longfault: async (a, b, c) => {
    const [head, tail] = LONG_FAULTS[a];
    const bytes = padded(head, tail, Number(c));
    discard = true;
    const until = Date.now() + Number(b) * 1000;
    let sent = 0;
    while (Date.now() < until) {
      const second = Date.now();
      for (let i = 0; i < 9; i++) {
        await write(bytes);
        sent++;
      }
      await sleep(Math.max(0, 1000 - (Date.now() - second)));
    }
    return `sent ${sent} of ${bytes.length} bytes`;
  },
  // One line of kind `a`, `b` bytes long, then the answer (the host reads them in that order).
  onefault: async (a, b) => {
    const [head, tail] = LONG_FAULTS[a];
    await write(padded(head, tail, Number(b)));
    return `sent one ${a} of ${b} bytes`;
  },
  // Valid calls of `size` whose params hold `a` bytes of `{}`s under "args", then "args" again,
  // valid: JSON keeps the last. For `b` seconds, at most 16 unanswered.
  dupargs: async (a, b) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.size","params":{"args":[';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 20) / 3));
    const bytes = encoder.encode(`${head}${"{},".repeat(items)}{}],"args":["x"]}}\n`);
    return await paced(bytes, Number(b), 23);
  },
  // Valid calls of `touch` whose one argument holds `a` bytes of `{}`s beside its `n`.
  objjunk: async (a, b) => {
    const head =
      '{"jsonrpc":"2.0","id":"00000000","method":"r66.touch","params":{"args":[{"n":1,"j":[';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 10) / 3));
    const bytes = encoder.encode(`${head}${"{},".repeat(items)}{}]}]}}\n`);
    return await paced(bytes, Number(b), 23);
  },
  // Calls of `size` whose one argument is `a` bytes of `{}`s, not a string: invalid, parsed whole.
  invalid: async (a, b, c) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.size","params":{"args":[[';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 10) / 3));
    const bytes = encoder.encode(`${head}${"{},".repeat(items)}{}]]}}\n`);
    return await paced(bytes, Number(b), 23, Number(c) || Infinity);
  },
  // Valid calls of `now` whose params are a string of `a` bytes of `\u0041` escapes.
  strparams: async (a, b) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.now","params":"';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 4) / 6));
    const bytes = encoder.encode(`${head}${"\\u0041".repeat(items)}"}\n`);
    return await paced(bytes, Number(b), 23);
  },
  // 64 slots held and 256 calls queued, then `b` seconds of small calls, each answered
  // "overloaded"; the answers read and dropped unparsed. `a`: the id's length.
  overload: async (a, b) => {
    for (let i = 0; i < 64 + 256; i++) {
      await line({ jsonrpc: "2.0", id: `h${i}`, method: "r66.hold", params: { args: [i] } });
    }
    await sleep(200);
    discard = true;
    const id = "i".repeat(Math.max(1, Number(a)));
    const one = JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "r66.size",
      params: { args: ["x"] },
    }) + "\n";
    const count = Math.floor((1 << 16) / one.length);
    const block = encoder.encode(one.repeat(count));
    const until = Date.now() + Number(b) * 1000;
    let rounds = 0;
    while (Date.now() < until) {
      await write(block);
      rounds++;
    }
    return `calls ${rounds * count}, line ${one.length} bytes`;
  },
  // As `overload`, but nothing more is read: `b` seconds of calls the host answers "overloaded".
  overdeaf: async (_a, b) => {
    for (let i = 0; i < 64 + 256; i++) {
      await line({ jsonrpc: "2.0", id: `h${i}`, method: "r66.hold", params: { args: [i] } });
    }
    await sleep(200);
    deaf = true;
    const one =
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "r66.size", params: { args: ["x"] } }) + "\n";
    const count = Math.floor((1 << 16) / one.length);
    const block = encoder.encode(one.repeat(count));
    const until = Date.now() + Number(b) * 1000;
    let rounds = 0;
    while (Date.now() < until) {
      await write(block);
      rounds++;
    }
    return `calls ${rounds * count}`;
  },
  // As `overload`, paced at `c` calls a second (in 20 ms steps), to stay within the budget.
  overpace: async (a, b, c) => {
    for (let i = 0; i < 64 + 256; i++) {
      await line({ jsonrpc: "2.0", id: `h${i}`, method: "r66.hold", params: { args: [i] } });
    }
    await sleep(200);
    discard = true;
    const id = "i".repeat(Math.max(1, Number(a)));
    const one = JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "r66.size",
      params: { args: ["x"] },
    }) + "\n";
    const step = Math.max(1, Math.round(Number(c) / 50));
    const block = encoder.encode(one.repeat(step));
    const start = Date.now();
    const until = start + Number(b) * 1000;
    let sent = 0;
    while (Date.now() < until) {
      await write(block);
      sent += step;
      const due = start + (sent / Number(c)) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    return `calls ${sent}, line ${one.length} bytes`;
  },
  // 64 slots held, then a call and its cancel, again and again, paced at `c` pairs a second.
  requeue: async (_a, b, c) => {
    for (let i = 0; i < 64; i++) {
      await line({ jsonrpc: "2.0", id: `h${i}`, method: "r66.hold", params: { args: [i] } });
    }
    await sleep(200);
    discard = true;
    const pair =
      JSON.stringify({ jsonrpc: "2.0", id: "q", method: "r66.size", params: { args: ["x"] } }) +
      "\n" + JSON.stringify({ jsonrpc: "2.0", method: "$/cancel", params: { id: "q" } }) + "\n";
    const step = Math.max(1, Math.round(Number(c) / 50));
    const block = encoder.encode(pair.repeat(step));
    const start = Date.now();
    const until = start + Number(b) * 1000;
    let sent = 0;
    while (Date.now() < until) {
      await write(block);
      sent += step;
      const due = start + (sent / Number(c)) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    return `pairs ${sent}`;
  },
  // Every slot and the queue held, then `a` small calls at once, each answered "overloaded";
  // with `b` = "requeue", 64 slots held and `a` calls each cancelled while it waits.
  burst: async (a, b) => {
    const held = b === "requeue" ? 64 : 64 + 256;
    for (let i = 0; i < held; i++) {
      await line({ jsonrpc: "2.0", id: `h${i}`, method: "r66.hold", params: { args: [i] } });
    }
    const call = JSON.stringify({
      jsonrpc: "2.0",
      id: "q",
      method: "r66.size",
      params: { args: ["x"] },
    });
    const cancel = JSON.stringify({ jsonrpc: "2.0", method: "$/cancel", params: { id: "q" } });
    const one = b === "requeue" ? `${call}\n${cancel}\n` : `${call.replace('"q"', '"o"')}\n`;
    await write(encoder.encode(one.repeat(Number(a))));
    return `sent ${a}`;
  },
  // One of each odd capability call; what each cost shows in the faults.
  each: async () => {
    const lines = [
      '{"jsonrpc":"2.0","id":"a1","method":"r66.size","params":{"__proto__":{"x":1},"args":["x"]}}',
      '{"jsonrpc":"2.0","id":"a2","method":"r66.size","params":[["x"]]}',
      '{"jsonrpc":"2.0","id":"a3","method":"r66.now","params":[]}',
      '{"jsonrpc":"2.0","id":"a4","method":"r66.size","params":{"args":[1],"args":["x"]}}',
      `{"jsonrpc":"2.0","id":"a5","method":"r66.size","params":{"args":["x"],"call":"${
        "c".repeat(257)
      }"}}`,
      '{"jsonrpc":"2.0","id":"a6","method":"r66.now","params":"just a string"}',
      '{"jsonrpc":"2.0","id":"a7","method":"r66.now","params":12345}',
      '{"jsonrpc":"2.0","id":"a8","method":"r66.size","params":{"args":["x"],"call":1e400}}',
      '{"jsonrpc":"2.0","id":"a9","method":"r66.size","params":{"args":["x"],"call":null}}',
    ];
    for (const text of lines) await write(encoder.encode(text + "\n"));
    await sleep(300);
    return `sent ${lines.length}, answered ${heard.answers}, errors ${heard.errors}`;
  },
  // Blank lines of 1 byte for `b` seconds: the cheapest line, for comparison.
  blank: async (_a, b) => {
    discard = true;
    const block = encoder.encode(" \n".repeat(1 << 15));
    const until = Date.now() + Number(b) * 1000;
    let rounds = 0;
    while (Date.now() < until) {
      await write(block);
      rounds++;
    }
    return `lines ${rounds << 15}`;
  },
};

/** Writes `bytes` (an id at `at`, 8 digits) for `seconds`, at most 16 unanswered. */
async function paced(
  bytes: Uint8Array,
  seconds: number,
  at: number,
  perSecond = Infinity,
): Promise<string> {
  const start = Date.now();
  const until = start + seconds * 1000;
  let sent = 0;
  while (Date.now() < until) {
    const due = start + (sent / perSecond) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
    const id = String(sent).padStart(8, "0");
    for (let i = 0; i < 8; i++) bytes[at + i] = id.charCodeAt(i);
    await write(bytes);
    sent++;
    while (sent - heard.answers - heard.errors > 16) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }
  return `calls ${sent} of ${bytes.length} bytes, answered ${heard.answers}, errors ${heard.errors}`;
}

async function serveAttempt(id: unknown, mode: string): Promise<void> {
  const [kind, a = "0", b = "0", c = "0"] = mode.split(":");
  const run = MODES[kind];
  const said = run ? await run(a, b, c) : "unknown mode";
  discard = false;
  await answer(id, said);
}

const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  heard.bytes += chunk.length;
  if (deaf) await new Promise(() => {});
  if (discard) {
    // Only the attempt's own call matters meanwhile: its answer is not awaited here.
    continue;
  }
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) !== -1) {
    const text = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (!text.trim()) continue;
    const message = JSON.parse(text);
    if (message.method === "$/initialize") {
      const served = [{ name: "r66", version: 1, methods: ["attempt", "double"] }];
      void answer(message.id, { protocolVersion: 1, nonce, contracts: served });
    } else if (message.method === "r66.attempt") {
      void serveAttempt(message.id, String(message.params?.[0] ?? ""));
    } else if (message.method === "r66.double") {
      void answer(message.id, message.params[0] * 2);
    } else if (message.method !== undefined && message.id !== undefined) {
      void answer(message.id, {});
    } else if (message.error) {
      heard.errors++;
      if (message.error.code === -32004) heard.overloaded++;
    } else if ("result" in message) heard.answers++;
    while (waiters.length) waiters.shift()!();
  }
}
