/**
 * Review 129: a plugin whose progress reports and stream items are valid, but carry values the
 * host's schema (or its envelope) throws away, built once and sent for nothing each time. By
 * mode, `<kind>:<ms>` on `r129.slow`: 30 reports of 64 KiB a second, within every rate the host
 * keeps, for `ms`; `<kind>` is where 32,000 numbers lie: `plain` (the value itself), `strip` (a
 * member of the value the schema strips), `beside` (a member of `params` beside the value), or
 * `none` (the value alone, no numbers). On `r129.items`, `<kind>:<count>`: that many items of
 * 64 KiB as credit allows, each `{"n":1}` with the numbers stripped or beside, or the numbers alone (`plain`).
 * @module
 */

import { answer, answerHandshake, CreditedStream, fromHost } from "./_raw.ts";

const encoder = new TextEncoder();
const numbers = `[${"0,".repeat(32_000)}0]`;

/** A `$/progress` or `$/item` line's tail after its id, by kind. */
function tail(kind: string, value: string): string {
  if (kind === "plain") return `,"value":${numbers}}}\n`;
  if (kind === "strip") return `,"value":{${value},"pad":${numbers}}}}\n`;
  if (kind === "beside") return `,"pad":${numbers},"value":{${value}}}}\n`;
  return `,"value":{${value}}}}\n`;
}

function send(method: string, id: number, tailBytes: Uint8Array): void {
  const head = encoder.encode(`{"jsonrpc":"2.0","method":"${method}","params":{"id":${id}`);
  const bytes = new Uint8Array(head.length + tailBytes.length);
  bytes.set(head);
  bytes.set(tailBytes, head.length);
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
}

/** The stream in flight. */
let stream: CreditedStream | undefined;

for await (const message of fromHost()) {
  const { id, method } = message;
  const params = message.params as unknown;
  if (method === "$/initialize") {
    answerHandshake(id, "r129", ["slow", "items"]);
  } else if (method === "$/credit") {
    stream?.credit(params);
  } else if (method === "r129.slow") {
    const [kind, ms] = String((params as unknown[])[0]).split(":");
    const bytes = encoder.encode(tail(kind, `"done":1`));
    const until = Date.now() + Number(ms);
    const timer = setInterval(() => {
      if (Date.now() < until) return send("$/progress", id!, bytes);
      clearInterval(timer);
      answer(id, "flooded");
    }, 33);
  } else if (method === "r129.items") {
    const [kind, count] = String((params as unknown[])[0]).split(":");
    const bytes = encoder.encode(tail(kind, `"n":1`));
    const pour = (n: number) => {
      for (let i = 0; i < n; i++) send("$/item", id!, bytes);
    };
    stream = new CreditedStream(id!, Number(count), pour);
  } else if (id !== undefined && method) {
    answer(id, null);
  }
}
Deno.exit(0);
