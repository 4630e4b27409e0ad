// T11: requests to the host whose method names are megabytes long. "read":
// send some and read the answers, to see how much of the name comes back.
// "flood": send them forever and never read again, to make the host's
// answers pile up (or throw: an answer quoting the name passes the line cap).
import { answer, serveProbe, writeLine } from "./_raw.ts";

const name = (bytes: number) => "m".repeat(bytes);

await serveProbe(async (mode, id, messages) => {
  if (mode === "flood") {
    const line = JSON.stringify({ jsonrpc: "2.0", id: 1, method: name(4 << 20) });
    for (let n = 2;; n++) writeLine(line.replace('"id":1', `"id":${n}`));
  }
  const sent = 8;
  for (let n = 0; n < sent; n++) {
    writeLine(JSON.stringify({ jsonrpc: "2.0", id: 1000 + n, method: name(1 << 20) }));
    // Just under the method cap: answered "method not found", which could quote it.
    writeLine(JSON.stringify({ jsonrpc: "2.0", id: 2000 + n, method: name(1000) }));
    // Invalid (jsonrpc 1.0) but with an id: answered with -32600.
    writeLine(JSON.stringify({ jsonrpc: "1.0", id: 3000 + n, method: name(1 << 20) }));
  }
  let longest = 0;
  let answers = 0;
  for await (const message of messages) {
    longest = Math.max(longest, (message as { length: number }).length);
    if (++answers === sent * 3) break;
  }
  answer(id, `${answers} answers, the longest ${longest} characters`);
});
