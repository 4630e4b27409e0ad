/**
 * Review 66: an attacking plugin without the SDK. It serves `R66`
 * (r66_contract.ts) by hand (_raw_async.ts); `attempt(mode)` sends what
 * its mode says and answers with what it sent.
 * @module
 */

import { encoder, line, paced, serveRaw, state, write } from "./_raw_async.ts";

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

await serveRaw("r66", {
  // One line of kind `a`, `b` bytes long, then the answer (the host reads them in that order).
  onefault: async (a, b) => {
    const [head, tail] = LONG_FAULTS[a];
    await write(padded(head, tail, Number(b)));
    return `sent one ${a} of ${b} bytes`;
  },
  // Valid calls of `now` whose params are a string of `a` bytes of `\u0041` escapes.
  strparams: (a, b) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.now","params":"';
    const items = Math.max(1, Math.floor((Number(a) - head.length - 4) / 6));
    const bytes = encoder.encode(`${head}${"\\u0041".repeat(items)}"}\n`);
    return paced(bytes, Number(b), 23);
  },
  // Valid calls of `touch` for `b` seconds, each with `a` bytes of junk the host parses and drops:
  // "dup", a first "args" (the parse keeps the last); "strip", members of the argument that the
  // contract does not know (zod strips them); "top", a member beside the envelope's.
  junk: (a, b, c) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.touch","params":';
    const junk = (unit: (i: number) => string) => {
      const parts: string[] = [];
      for (let size = 0, i = 0; size < Number(a); i++) {
        size += parts[parts.push(unit(i)) - 1].length;
      }
      return parts.join(",");
    };
    const text = c === "dup"
      ? `${head}{"args":[${junk(() => "{}")}],"args":[{"n":1}]}}`
      : c === "strip"
      ? `${head}{"args":[{"n":1,${junk((i) => `"k${i}":0`)}}]}}`
      : `${head}{"args":[{"n":1}]},"junk":{${junk((i) => `"k${i}":0`)}}}`;
    return paced(encoder.encode(text + "\n"), Number(b), 23);
  },
  // The answer to this very call: a line of `a` bytes over the members cap (`[0,0,…]`).
  overcap: async (a) => {
    const members = "0,".repeat(Math.max(1, Math.floor((Number(a) - 60) / 2)));
    const id = JSON.stringify(state.attemptId);
    await write(encoder.encode(`{"jsonrpc":"2.0","id":${id},"result":[${members}0]}\n`));
    return "sent"; // an answer to a call answered already: one more fault, of a short line
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
});
